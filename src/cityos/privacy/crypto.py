"""Pseudonymous ids (keyed HMAC-SHA256) and field encryption (AES-256-GCM, rotatable keys).

Pure functions and small value objects: no database, no environment. Keys come from
:class:`~cityos.config.Settings` through :meth:`Vault.from_settings`.

- A **pseudonym** is ``HMAC-SHA256(pseudonym key, "cityos/privacy/pseudonym/v1|<label>|<id>")``
  in hex. The label separates uses: the same person has unlinkable pseudonyms under
  ``personal-data`` and, say, ``open-data``. Without the key a pseudonym cannot be traced
  back to the id nor computed from it (PIPA art. 2 (1-2), 28-2: pseudonymised information).
- A **ciphertext** is ``<key id>:<base64url(nonce (12 bytes) || AES-GCM ciphertext and tag)>``
  (NIST SP 800-38D). The key id says which key decrypts it, so keys rotate: the first key
  of ``CITYOS_DATA_KEYS`` encrypts, every listed key decrypts, and
  :func:`cityos.privacy.keys.rotate_keys` moves old records to the newest key. Each
  ciphertext is bound to a *context* (associated data: table, record, subject), so a
  ciphertext copied into another record or column does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cityos.config import DERIVED_DATA_KEY_ID, Settings

NONCE_BYTES = 12
DERIVED_KEY_ID = DERIVED_DATA_KEY_ID
PSEUDONYM_LABEL = "personal-data"


class DecryptionError(ValueError):
    """A ciphertext is unreadable: unknown key id, wrong context, or altered (tampered)."""


def derive_key(secret: str | bytes, label: str) -> bytes:
    """Return a 32-byte key for one purpose, derived from a secret (HMAC-SHA256 with a label)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, label.encode(), hashlib.sha256).digest()


def pseudonym(user_id: str, *, key: bytes, label: str = PSEUDONYM_LABEL) -> str:
    """Return the pseudonymous id of a user under a label (64 hex characters)."""
    message = f"cityos/privacy/pseudonym/v1|{label}|{user_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_data_keys(entries: list[str]) -> tuple[tuple[str, bytes], ...]:
    """Return ``(key id, 32-byte key)`` pairs from ``CITYOS_DATA_KEYS`` entries, in order."""
    keys = []
    for entry in entries:
        key_id, _, encoded = entry.partition(":")
        raw = _b64decode(encoded)
        if len(raw) != 32:  # the settings validate this already; stay safe if built by hand
            raise ValueError(f"data key {key_id!r} is not 32 bytes")
        keys.append((key_id, raw))
    return tuple(keys)


@dataclass(frozen=True)
class Keyring:
    """AES-256-GCM data keys, newest first: the first encrypts, all decrypt."""

    keys: tuple[tuple[str, bytes], ...]
    _by_id: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a keyring needs at least one key")
        object.__setattr__(self, "_by_id", {kid: AESGCM(raw) for kid, raw in self.keys})

    @property
    def current(self) -> str:
        """Return the id of the key that encrypts."""
        return self.keys[0][0]

    def encrypt(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt with the newest key, bound to ``context``; return ``<key id>:<base64url>``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._by_id[self.current].encrypt(nonce, plaintext, context.encode())
        return f"{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, ciphertext: str, *, context: str) -> bytes:
        """Return the plaintext, or raise DecryptionError (unknown key, other context, altered)."""
        key_id, _, encoded = ciphertext.partition(":")
        cipher = self._by_id.get(key_id)
        if cipher is None:
            raise DecryptionError(f"no data key with id {key_id!r} (was it removed too early?)")
        try:
            raw = _b64decode(encoded)
        except (binascii.Error, ValueError) as exc:
            raise DecryptionError("the ciphertext is not base64url") from exc
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionError("the ciphertext is too short")
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise DecryptionError("the ciphertext was altered or belongs elsewhere") from exc

    def key_id_of(self, ciphertext: str) -> str:
        """Return the id of the key a ciphertext was made with."""
        return ciphertext.partition(":")[0]

    def encrypt_json(self, value: Mapping[str, Any], *, context: str) -> str:
        """Encrypt a JSON object (UTF-8, keys sorted)."""
        text = json.dumps(
            dict(value), ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
        return self.encrypt(text.encode(), context=context)

    def decrypt_json(self, ciphertext: str, *, context: str) -> dict[str, Any]:
        """Decrypt a JSON object made by :meth:`encrypt_json`."""
        value = json.loads(self.decrypt(ciphertext, context=context))
        if not isinstance(value, dict):
            raise DecryptionError("the plaintext is not a JSON object")
        return value


@dataclass(frozen=True)
class Vault:
    """The keys personal data needs: a keyring for fields and a key for pseudonyms."""

    keyring: Keyring
    pseudonym_key: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """Return the vault of a deployment (cached per distinct key material)."""
        return _vault(tuple(settings.data_keys), settings.pseudonym_key, settings.secret_key)

    def subject(self, user_id: str, *, label: str = PSEUDONYM_LABEL) -> str:
        """Return the pseudonymous id under which a user's personal data is stored."""
        return pseudonym(user_id, key=self.pseudonym_key, label=label)


@lru_cache(maxsize=8)
def _vault(data_keys: tuple[str, ...], pseudonym_secret: str, secret_key: str) -> Vault:
    # The key derived from the secret always decrypts (last), so records written before
    # CITYOS_DATA_KEYS was set stay readable until rotate_keys() has moved them.
    derived = (DERIVED_KEY_ID, derive_key(secret_key, "cityos/privacy/data-key/v1"))
    keys = parse_data_keys(list(data_keys))
    if DERIVED_KEY_ID not in {kid for kid, _ in keys}:
        keys += (derived,)
    base = pseudonym_secret or secret_key
    return Vault(Keyring(keys), derive_key(base, "cityos/privacy/pseudonym-key/v1"))
