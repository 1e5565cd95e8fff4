"""First start: make sure an administrator exists, with a random password saved once."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.identity import service
from cityos.identity.errors import Conflict
from cityos.identity.models import Role

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "admin-password"


def ensure_admin(settings: Settings, engine: Engine, var_dir: Path) -> str | None:
    """Create the ``admin`` account on first start; return its password, or None if one exists.

    The random password is also written to ``var_dir/admin-password`` with mode 600, inside
    the transaction, so the account is never created without the file. The database must
    already be migrated (``cityos.db.upgrade``). ``settings`` is taken for symmetry with
    the other entry points and future policy (it is not read today).
    """
    del settings
    password = secrets.token_urlsafe(18)
    try:
        with engine.begin() as connection:
            if service.admin_exists(connection):
                return None
            service.create_user(
                connection,
                username=ADMIN_USERNAME,
                password=password,
                roles={Role.ADMIN},
                display_name="관리자 / Administrator",
                actor="system",
                now=datetime.now(UTC),
                allow_reserved=True,
            )
            _write_secret(var_dir / PASSWORD_FILE, password)
    except Conflict:  # another worker created it first, or "admin" exists without the role
        return None
    return password


def _write_secret(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path`` readable by its owner only (mode 600, never wider)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # an older file may have had a wider mode
        os.write(descriptor, (secret + "\n").encode())
    finally:
        os.close(descriptor)
