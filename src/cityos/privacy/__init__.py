"""Privacy (modelled on Korea's Personal Information Protection Act): pseudonymous ids,
field encryption with rotatable keys, the personal-data store (consent-checked, audited),
retention and k-anonymous statistics. ``docs/security.md`` ("Privacy") describes the model.
"""

from cityos.privacy.crypto import DecryptionError, Keyring, Vault, pseudonym
from cityos.privacy.retention import purge_expired
from cityos.privacy.stats import KAnonymousCounts, k_anonymous_counts
from cityos.privacy.store import ConsentRequired

__all__ = [
    "ConsentRequired",
    "DecryptionError",
    "KAnonymousCounts",
    "Keyring",
    "Vault",
    "k_anonymous_counts",
    "pseudonym",
    "purge_expired",
]
