"""Signing composed from settings: the operator's certificate read and checked at start (a
bad file, password or certificate stops the start with the problem), the time-stamping
authority, and the secret that seals users' certificates."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pdfprompt.accounts import Sealer
from pdfprompt.domain import CertificateError, InvalidInputError
from pdfprompt.pdf import SigningSetup, TimestampAuthority, read_pkcs12
from pdfprompt.settings import Settings

log = logging.getLogger(__name__)

# The operator's PKCS#12 file is the operator's own, yet read within a bound.
MAX_OPERATOR_CERT_BYTES = 1024 * 1024
SECRET_FILE = "secret.key"


def signing_from_settings(settings: Settings) -> SigningSetup:
    """The operator's key (checked now) and the time-stamping authority, as configured."""
    tsa = TimestampAuthority(settings.tsa_url, settings.tsa_timeout_s) if settings.tsa_url else None
    path = settings.signing_cert
    if path is None:
        return SigningSetup(None, tsa)
    name = "PDFPROMPT_SIGNING_CERT"
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_OPERATOR_CERT_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"{name}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_OPERATOR_CERT_BYTES:
        raise InvalidInputError(f"{name}: {path} is larger than a PKCS#12 file should be")
    password = settings.signing_cert_password
    key = read_pkcs12(
        data,
        password.get_secret_value() if password is not None else None,
        file_field=name,
        password_field=f"{name}_PASSWORD",
    )
    try:
        key.check_valid()
    except CertificateError as exc:
        raise InvalidInputError(f"{name}: {exc.message}") from None
    info = key.info()
    log.info("signing with %s (valid until %s)", info.subject, info.not_after.date())
    return SigningSetup(key, tsa)


def sealer_from_settings(settings: Settings) -> Sealer:
    """The sealer of users' certificates: from `PDFPROMPT_SECRET_KEY`, or from a random
    secret made once and kept in the data directory."""
    if settings.secret_key is not None:
        return Sealer(settings.secret_key.get_secret_value().encode("utf-8"))
    return Sealer(_kept_secret(settings.data_dir / SECRET_FILE))


def _kept_secret(path: Path) -> bytes:
    """The secret in `path`, made (readable by its owner only) when missing; two processes
    starting at once agree on the first one written."""
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    made = secrets.token_urlsafe(48).encode("ascii")
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, made)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(partial, path)  # fails when another process was first
    except FileExistsError:
        pass
    finally:
        partial.unlink()
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    secret = path.read_bytes().strip()
    if len(secret) < 32:
        raise InvalidInputError(f"{path}: the kept secret is too short; remove the file")
    return secret
