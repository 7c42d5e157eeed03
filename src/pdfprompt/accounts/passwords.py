"""Passwords: the rules a new one must meet, and argon2id hashing (argon2-cffi, its default
parameters, which follow RFC 9106's recommendation).

Hashing is slow on purpose and CPU-bound: the async callers run it in a thread
(`asyncio.to_thread`). A password is capped in length before it is hashed, so that a huge
one cannot buy a long hash.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pdfprompt.domain import InvalidInputError

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024

_hasher = PasswordHasher()  # argon2id


def password_problem(password: str) -> str | None:
    """Why `password` cannot be a password, or None when it can."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"a password needs at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"a password has at most {MAX_PASSWORD_CHARS} characters"
    if "\x00" in password:
        return "a password cannot contain a NUL character"
    return None


def check_password_rules(password: str) -> None:
    """`InvalidInputError` (field `password`) for a password the rules refuse."""
    problem = password_problem(password)
    if problem is not None:
        raise InvalidInputError(problem, field="password")


def hash_password(password: str) -> str:
    """The argon2id hash (`$argon2id$...`) of a password the rules accept."""
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from; False for a hash that
    is not argon2's."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than today's (hash again at the next
    successful sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not anyone's password")


def verify_nothing(password: str) -> None:
    """As much work as checking a password, against no one's: a sign-in for an unknown email
    takes as long as one for a known email."""
    verify_password(_dummy_hash(), password)
