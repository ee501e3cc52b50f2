"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106's recommended parameters),
and the rule for new passwords: long enough, and not guessable (zxcvbn's estimate, which knows common
passwords, words, keyboard patterns, repeats, dates and the person's own username)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sicdoc.errors import InvalidInput

_hasher = PasswordHasher()
# A process hashes one password at a time. Each argon2id hash holds 64 MiB (memory-hard by design)
# while it runs, so a burst of logins on one web worker's threads multiplied its peak memory, and
# more hashes at once than the cores that run them only queue inside argon2 instead of here.
_HASHING = threading.Lock()
# Verified against when the username is unknown, so both failures take the same time; made with the
# hasher in use (same parameters as real hashes, so the same cost), at the first check of either
# kind: not at import, where it held 64 MiB in every process, logins or not (the CLI, the analytics
# worker, the server's master).
_dummy: tuple[PasswordHasher, str] | None = None

MIN_LENGTH = 12
# zxcvbn scores 0-4; 3 is "safely unguessable: moderate protection from offline slow-hash scenario".
MIN_SCORE = 3
# zxcvbn looks at this many characters at most; a longer password is judged by its start.
_CHECKED = 72
# zxcvbn keeps the user inputs of a check in a module-level dictionary: one check at a time.
_ZXCVBN = threading.Lock()


class WeakPassword(InvalidInput):
    """A new password that breaks the rule; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="value")


def check_password(password: str, user_inputs: Iterable[str] = ()) -> None:
    """Refuse a new password that is short, common, a simple pattern, or built from ``user_inputs``
    (the username, and its parts such as "ada" in "dr.ada"); raise WeakPassword with a clear message."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"A password needs at least {MIN_LENGTH} characters")
    inputs: list[str] = []
    for value in user_inputs:
        inputs.append(value)
        inputs.extend(part for part in re.split(r"[^0-9A-Za-z]+", value) if len(part) >= 3)
    inputs = [i for i in inputs if len(i) >= 3]
    warning = _weakness(password, inputs)
    # What is left without the username must be strong on its own ("Dr.Ada-19601231" for dr.ada).
    rest = password
    for value in sorted(inputs, key=len, reverse=True):
        rest = re.sub(re.escape(value), "", rest, flags=re.IGNORECASE)
    if warning is None and rest != password:
        warning = _weakness(rest, inputs) if rest.strip() else ""
        warning = "it is mostly the username" if warning is not None else None
    if warning is not None:
        reason = f" ({warning[0].lower()}{warning[1:]})" if warning else ""
        raise WeakPassword(
            f"This password is too easy to guess{reason}. Do not use a common password, a simple "
            "pattern or repeat, or the username; several unrelated words make a strong password."
        )


def _weakness(password: str, user_inputs: list[str]) -> str | None:
    """None if zxcvbn rates the password strong enough, else its warning (may be empty)."""
    # Imported here: its word lists are 13 MB in every web worker, for the rare new password.
    from zxcvbn import zxcvbn

    with _ZXCVBN:
        result = zxcvbn(password[:_CHECKED], user_inputs=user_inputs)
    if result["score"] >= MIN_SCORE:
        return None
    return str(result["feedback"].get("warning") or "").strip().rstrip(".")


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"A password needs at least {MIN_LENGTH} characters")
    with _HASHING:
        return _hasher.hash(password)


def rehash(password: str) -> str:
    """A fresh hash with the current parameters for a password that was just verified."""
    with _HASHING:
        return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    dummy = _dummy_hash()  # whoever asks first, the first check costs the same
    against = stored_hash or dummy
    try:
        with _HASHING:
            return _hasher.verify(against, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        with _HASHING:
            _dummy = (_hasher, _hasher.hash("not a password of anyone"))
    return _dummy[1]


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
