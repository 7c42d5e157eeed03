"""Signing keys: a PKCS#12 file read (with its password) into a private key, its certificate
and chain, checked for what signing needs; and written back without a password, as the
sealed form a user's certificate is kept in (`accounts.CertificateStore` seals it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import pkcs12 as asn1_pkcs12  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from pdfprompt.domain import CertificateError, CertificateInfo, InvalidInputError

_SIGNING_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
MAX_CHAIN_CERTIFICATES = 10
# Password stretching a file may ask for (OpenSSL writes 2,048 iterations; OWASP's advice for
# PBKDF2-SHA256 is 600,000): each iteration costs CPU before the password is even judged.
MAX_KDF_ITERATIONS = 600_000
MAX_KDF_COUNT = 8


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key with its certificate and the certificates of its chain (DER)."""

    key_der: bytes  # PKCS#8
    certificate_der: bytes
    chain_der: tuple[bytes, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    def info(self) -> CertificateInfo:
        cert = self.certificate
        return CertificateInfo(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial_number=f"{cert.serial_number:x}",
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            fingerprint_sha256=hashlib.sha256(self.certificate_der).hexdigest(),
        )

    def signer_name(self) -> str:
        """The certificate subject's common name (or its whole subject without one)."""
        cert = self.certificate
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()

    def check_valid(self, now: datetime | None = None, *, field: str | None = None) -> None:
        """`CertificateError` (`certificate_expired`, `certificate_not_yet_valid`) when the
        certificate is not valid at `now` (default: the current time)."""
        moment = now or datetime.now(UTC)
        cert = self.certificate
        if moment > cert.not_valid_after_utc:
            raise CertificateError(
                f"the signing certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                code="certificate_expired",
                field=field,
            )
        if moment < cert.not_valid_before_utc:
            raise CertificateError(
                "the signing certificate is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                code="certificate_not_yet_valid",
                field=field,
            )

    def to_pkcs12(self) -> bytes:
        """The key, certificate and chain as a PKCS#12 file without a password (kept only
        sealed)."""
        key = serialization.load_der_private_key(self.key_der, password=None)
        assert isinstance(key, _SIGNING_KEYS)
        return pkcs12.serialize_key_and_certificates(
            None,
            key,
            self.certificate,
            [x509.load_der_x509_certificate(c) for c in self.chain_der] or None,
            serialization.NoEncryption(),
        )


def read_pkcs12(
    data: bytes, password: str | None, *, file_field: str = "file", password_field: str = "password"
) -> SigningKey:
    """The signing key in a PKCS#12 file. `InvalidInputError` naming `file_field` for bytes
    that are not PKCS#12, a file without a private key or certificate, a key that does not
    match the certificate, a key type that cannot sign PAdES signatures or a certificate
    not meant for signing; naming `password_field` for a wrong password. The certificate's
    dates are `SigningKey.check_valid`'s to judge."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        is_pfx = pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native in (
            "data",
            "signed_data",
        )
    except Exception:
        is_pfx = False
    if not is_pfx:
        raise InvalidInputError(f"{file_field}: not a PKCS#12 file (.p12, .pfx)", field=file_field)
    # The password is stretched as many times as the file says: bounded before it is tried.
    work = _key_derivations(pfx)
    if work is None:
        raise InvalidInputError(
            f"{file_field}: a PKCS#12 file that cannot be read", field=file_field
        )
    if max(work, default=0) > MAX_KDF_ITERATIONS or len(work) > MAX_KDF_COUNT:
        raise InvalidInputError(
            f"{file_field}: the file asks for more password stretching than accepted (at "
            f"most {MAX_KDF_ITERATIONS} iterations, {MAX_KDF_COUNT} times)",
            field=file_field,
        )
    loaded = None
    tries = [password.encode("utf-8")] if password else [None, b""]
    for attempt in tries:
        try:
            loaded = pkcs12.load_pkcs12(data, attempt)
            break
        except ValueError:
            continue
        except Exception:  # an unsupported algorithm or a structure the parser refuses
            raise InvalidInputError(
                f"{file_field}: a PKCS#12 file that cannot be read", field=file_field
            ) from None
    if loaded is None:
        said = "wrong password" if password else "the file needs its password"
        raise InvalidInputError(f"{password_field}: {said}", field=password_field)
    key = loaded.key
    if key is None:
        raise InvalidInputError(f"{file_field}: the file holds no private key", field=file_field)
    if loaded.cert is None:
        raise InvalidInputError(f"{file_field}: the file holds no certificate", field=file_field)
    if not isinstance(key, _SIGNING_KEYS):
        raise InvalidInputError(
            f"{file_field}: the private key must be RSA, ECDSA or Ed25519", field=file_field
        )
    cert = loaded.cert.certificate
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != cert.public_key().public_bytes(der, public):
        raise InvalidInputError(
            f"{file_field}: the private key does not belong to the certificate", field=file_field
        )
    _check_usage(cert, file_field)
    chain = [c.certificate for c in loaded.additional_certs]
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise InvalidInputError(
            f"{file_field}: more than {MAX_CHAIN_CERTIFICATES} chain certificates",
            field=file_field,
        )
    return SigningKey(
        key_der=key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        certificate_der=cert.public_bytes(der),
        chain_der=tuple(c.public_bytes(der) for c in chain),
    )


def _key_derivations(pfx: Any) -> list[int] | None:
    """The iteration counts of every password-based derivation in the file (its MAC, its
    encrypted contents, its shrouded keys); None when its structure cannot be walked."""
    try:
        counts = []
        if pfx["mac_data"]:
            counts.append(int(pfx["mac_data"]["iterations"].native))
        for content in pfx.authenticated_safe:
            kind = content["content_type"].native
            if kind == "encrypted_data":
                algorithm = content["content"]["encrypted_content_info"][
                    "content_encryption_algorithm"
                ]
                counts.append(int(algorithm.kdf_iterations))
            elif kind == "data":
                for bag in asn1_pkcs12.SafeContents.load(content["content"].native):
                    if bag["bag_id"].native == "pkcs8_shrouded_key_bag":
                        counts.append(int(bag["bag_value"]["encryption_algorithm"].kdf_iterations))
            else:
                return None
        return counts
    except Exception:
        return None


def _check_usage(cert: x509.Certificate, field: str) -> None:
    """A certificate whose key usage says it is not for signatures is refused."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    except Exception:
        raise InvalidInputError(
            f"{field}: the certificate's extensions cannot be read", field=field
        ) from None
    if not (usage.digital_signature or usage.content_commitment):
        raise InvalidInputError(
            f"{field}: the certificate's key usage does not allow signatures "
            "(digitalSignature or nonRepudiation)",
            field=field,
        )


def read_sealed_key(data: bytes) -> SigningKey:
    """A key kept by `SigningKey.to_pkcs12` (already unsealed)."""
    return read_pkcs12(data, None)


def check_dates(key: SigningKey, *, field: str) -> None:
    """At upload: a certificate not valid now is refused as bad input naming `field`."""
    try:
        key.check_valid()
    except CertificateError as exc:
        raise InvalidInputError(f"{field}: {exc.message}", field=field) from None
