"""Password hashing (argon2id, RFC 9106 parameters via argon2-cffi) and the password rules."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cityos.identity.errors import InvalidInput

MIN_LENGTH = 8
# Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("cityos-timing-equaliser")


def check_password_rules(password: str, *, username: str) -> None:
    """Raise InvalidInput when a new password is too short, too long or the username."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"The password must have at least {MIN_LENGTH} characters.",
            f"비밀번호는 {MIN_LENGTH}자 이상이어야 합니다.",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"The password may have at most {MAX_LENGTH} characters.",
            f"비밀번호는 {MAX_LENGTH}자를 넘을 수 없습니다.",
        )
    if password.casefold() == username.casefold():
        raise InvalidInput(
            "The password must not be the username.",
            "비밀번호는 사용자 이름과 같을 수 없습니다.",
        )


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password (salted; PHC string format)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return True when ``password`` matches ``password_hash`` (None: compare to a dummy)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Return True when a stored hash used weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)
