"""Identity: users and roles, passwords, tokens, API keys, resident verification, consent, audit.

Public entry points: :data:`~cityos.identity.api.router` (HTTP), the dependencies
:data:`CurrentUser` and :data:`OptionalUser`, :func:`key_allows` (API-key scopes),
:func:`ensure_admin` (first start), and the Typer apps ``users_app`` / ``keys_app`` in
:mod:`cityos.identity.cli`. ``docs/security.md`` describes the model.
"""

from cityos.identity.bootstrap import ensure_admin
from cityos.identity.dependencies import CurrentUser, OptionalUser, close_engine, engine_for
from cityos.identity.errors import IdentityError
from cityos.identity.keys import key_allows
from cityos.identity.models import ApiKey, KeyScopes, Principal, Role, User
from cityos.identity.verification import DevelopmentVerifier, ResidentVerifier

__all__ = [
    "ApiKey",
    "CurrentUser",
    "DevelopmentVerifier",
    "IdentityError",
    "KeyScopes",
    "OptionalUser",
    "Principal",
    "ResidentVerifier",
    "Role",
    "User",
    "close_engine",
    "engine_for",
    "ensure_admin",
    "key_allows",
]
