"""The admin secret of a home: an API bearer token and the app's admin password, one and the same.

It comes from PODSEARCH_ADMIN_TOKEN (Settings.admin_token) or from a file holding its Argon2 hash
(`podsearch admin set-password`), so the secret itself is never stored in the home.
"""

from __future__ import annotations

import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from podsearch.core.config import Settings
from podsearch.core.errors import ConfigError
from podsearch.transcripts.store import atomic_write

MIN_LENGTH = 8


def admin_configured(settings: Settings) -> bool:
    """True when the home has an admin secret (environment or hash file)."""
    return bool(settings.admin_token) or settings.admin_hash_file.exists()


def set_password(settings: Settings, password: str) -> None:
    """Store the Argon2 hash of `password` as the home's admin secret (replacing any earlier one)."""
    if len(password) < MIN_LENGTH:
        raise ConfigError(f"the admin password is too short; use at least {MIN_LENGTH} characters")
    atomic_write(settings.admin_hash_file, (PasswordHasher().hash(password) + "\n").encode())
    settings.admin_hash_file.chmod(0o600)


def verify(settings: Settings, secret: str | None) -> bool:
    """True when `secret` is the home's admin secret; False when none is configured."""
    if not secret:
        return False
    if settings.admin_token and hmac.compare_digest(secret.encode(), settings.admin_token.encode()):
        return True
    try:
        stored = settings.admin_hash_file.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    try:
        return PasswordHasher().verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False
