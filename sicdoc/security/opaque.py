"""Opaque bearer secrets (login session ids, access tokens, client secrets): random, and stored only
as digests.

The raw value goes to the client once; the database keeps its SHA-256, so a copy of the database
cannot be replayed as a session, a token or a client. A secret of 256 random bits cannot be guessed,
so a slow (memory-hard) hash would add only its cost; that is for passwords, which people choose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """A fresh secret of 256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def digest(raw: str) -> str:
    """The stored form of a secret (or of a key too long to store as is): SHA-256, hex."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def matches(raw: str, stored: str) -> bool:
    """Whether ``raw`` is the secret whose digest is ``stored``, compared in constant time."""
    return hmac.compare_digest(digest(raw), stored)
