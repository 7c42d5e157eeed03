"""PAdES signatures (pyHanko): a PDF signed in an incremental update with a key and its
chain, visible in a box on a page (the signer's name, the reason, the location and the time)
or invisible, PAdES B-B, or B-T with an RFC 3161 timestamp from a time-stamping authority.
An encrypted PDF is opened with its password and stays encrypted. The signature's byte
range covers the whole file: nothing may change it afterwards.

`sign_pdf` is CPU work and, with a timestamp, a blocking HTTP request: callers run it off the
event loop."""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from pdfprompt.domain import (
    InvalidInputError,
    PdfPromptError,
    SignatureBox,
    Signing,
    SigningError,
    TimestampError,
)
from pdfprompt.pdf.certificates import SigningKey

with warnings.catch_warnings():
    # pyHanko imports cryptography's DSA key types, whose every use cryptography 51 reports
    # as deprecated; pdfprompt never signs with DSA (RSA, ECDSA and Ed25519 keys only), so an
    # operator is not shown that warning at every start.
    warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"pyhanko(\.|$)")
    from pyhanko.pdf_utils.crypt import AuthStatus
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError
    from pyhanko.stamp import TextStampStyle
    from pyhanko_certvalidator.registry import SimpleCertificateStore

# What a CMS signature holds besides the certificates and a timestamp token: the signature
# value (512 bytes for RSA-4096), the signed attributes, the algorithm identifiers.
_CMS_OVERHEAD_BYTES = 2048

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

_STAMP_LINES = (
    ("Digitally signed by %(signer)s", None),
    ("Date: %(ts)s", None),
    ("Reason: %(reason)s", "reason"),
    ("Location: %(location)s", "location"),
)


@dataclass(frozen=True, slots=True)
class TimestampAuthority:
    """An RFC 3161 time-stamping authority; one per process, so that the size of its tokens
    is learnt once."""

    url: str
    timeout_s: float = 10.0

    def stamper(self) -> timestamps.TimeStamper:
        return timestamps.HTTPTimeStamper(self.url, timeout=self.timeout_s)


@dataclass(frozen=True, slots=True)
class SigningSetup:
    """What a process signs with: the operator's key (None: not configured) and the
    time-stamping authority (None: none configured). Built at start by the composition
    root, which refuses to start on a bad operator certificate."""

    operator: SigningKey | None = None
    tsa: TimestampAuthority | None = None


def sign_pdf(
    pdf: bytes,
    key: SigningKey,
    spec: Signing,
    *,
    password: str | None = None,
    timestamper: timestamps.TimeStamper | None = None,
) -> bytes:
    """`pdf` with a PAdES signature added as `spec` asks (`spec.timestamp` needs a
    `timestamper`). `InvalidInputError` on `options.sign.box` for a page the document lacks
    or a box off its page; `SigningError` for a PDF pyHanko cannot update or a password that
    does not open it; `TimestampError` when the authority gives no timestamp."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except Exception as exc:  # whatever a malformed PDF makes the reader raise
        raise SigningError(f"the PDF cannot be read for signing: {exc}") from None
    if writer.prev.encrypted:
        try:
            status = writer.encrypt(password or "").status  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise SigningError(f"the encrypted PDF cannot be opened for signing: {exc}") from None
        if status is AuthStatus.FAILED:
            raise SigningError("the encrypted PDF does not open with the job's password")
    field_name = _free_field_name(writer)
    page_index, box = _placement(writer, spec.box)
    signer = _LoadedKeySigner(key)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=signer.digest_algorithm,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=spec.reason,
        location=spec.location,
        contact_info=spec.contact,
        name=key.signer_name(),
    )
    lines = [text for text, needs in _STAMP_LINES if needs is None or getattr(spec, needs)]
    pdf_signer = signers.PdfSigner(
        meta,
        signer,
        timestamper=timestamper if spec.timestamp else None,
        stamp_style=TextStampStyle(
            stamp_text="\n".join(lines), timestamp_format="%Y-%m-%d %H:%M:%S %Z"
        ),
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name, on_page=page_index, box=box),
    )
    if spec.timestamp and timestamper is None:
        raise SigningError("no time-stamping authority is configured")
    params = {
        "signer": _shown(key.signer_name()),
        "reason": _shown(spec.reason or ""),
        "location": _shown(spec.location or ""),
    }
    try:
        room = _room(key, timestamper if spec.timestamp else None)
        out = pdf_signer.sign_pdf(writer, bytes_reserved=room, appearance_text_params=params)
    except TimestampRequestError as exc:
        raise TimestampError(f"the time-stamping authority gave no timestamp: {exc}") from None
    except PdfPromptError:
        raise
    except Exception as exc:  # pyHanko's SigningError, PdfError, or a malformed PDF's own
        if spec.timestamp and _caused_by_timestamp(exc):
            raise TimestampError(f"the time-stamping authority gave no timestamp: {exc}") from None
        raise SigningError(f"the PDF could not be signed: {exc}") from None
    data: bytes = out.getvalue()
    return data


def _room(key: SigningKey, timestamper: timestamps.TimeStamper | None) -> int:
    """Hexadecimal digits reserved for the signature's CMS object: the certificates, the
    signature and its attributes, and a timestamp token as large as the one the authority
    gave for a dummy digest (asked once per time-stamp client), with half again as margin.
    (pyHanko's own estimate makes a trial signature: as much CPU again.)"""
    token = 0
    if timestamper is not None:
        token = len(asyncio.run(timestamper.async_dummy_response("sha256")).dump())
    binary = (
        len(key.certificate_der) + sum(len(c) for c in key.chain_der) + _CMS_OVERHEAD_BYTES + token
    )
    room = 3 * binary  # two digits a byte, and half again
    return room + room % 2


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's signer with the private key loaded once per signature, without checking an
    RSA key's consistency again (checked when the key was read: at upload, or at start);
    pyHanko loads and checks it on every raw signature, which is most of a signature's
    CPU."""

    def __init__(self, key: SigningKey) -> None:
        chain = [asn1_x509.Certificate.load(c) for c in key.chain_der]
        super().__init__(
            signing_cert=asn1_x509.Certificate.load(key.certificate_der),
            signing_key=asn1_keys.PrivateKeyInfo.load(key.key_der),
            cert_registry=SimpleCertificateStore.from_certs(chain),  # type: ignore[no-untyped-call]
        )
        self._private = serialization.load_der_private_key(
            key.key_der, password=None, unsafe_skip_rsa_key_validation=True
        )

    @property
    def digest_algorithm(self) -> str:
        """SHA-256, or SHA-512 for Ed25519 (the one its signatures use)."""
        return "sha512" if isinstance(self._private, ed25519.Ed25519PrivateKey) else "sha256"

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            name = mechanism.signature_algo
        except ValueError:
            name = mechanism["algorithm"].native
        private, digest = self._private, _HASHES.get(digest_algorithm)
        if isinstance(private, rsa.RSAPrivateKey) and name == "rsassa_pkcs1v15" and digest:
            return private.sign(data, padding.PKCS1v15(), digest())
        if isinstance(private, ec.EllipticCurvePrivateKey) and name == "ecdsa" and digest:
            return private.sign(data, ec.ECDSA(digest()))
        if isinstance(private, ed25519.Ed25519PrivateKey) and name == "ed25519":
            return private.sign(data)
        signed: bytes = super().sign_raw(data, digest_algorithm)  # whatever else pyHanko knows
        return signed


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    """`Signature1`, or the first `SignatureN` no field of the document has."""
    taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    n = 1
    while f"Signature{n}" in taken:
        n += 1
    return f"Signature{n}"


def _placement(
    writer: IncrementalPdfFileWriter, box: SignatureBox | None
) -> tuple[int, tuple[int, int, int, int] | None]:
    """The page index and rectangle of the signature's field (no rectangle: invisible, on
    the first page)."""
    if box is None:
        return 0, None
    pages = int(writer.root["/Pages"]["/Count"])
    index = pages - 1 if box.page == -1 else box.page - 1
    if not 0 <= index < pages:
        raise InvalidInputError(
            f"options.sign.box.page: the document has {pages} page(s); page {box.page} "
            "is not one of them",
            field="options.sign.box.page",
        )
    media = _media_box(writer, index)
    left, bottom, right, top = media
    x1, y1 = left + box.x, bottom + box.y
    x2, y2 = x1 + box.width, y1 + box.height
    if x2 > right + 0.5 or y2 > top + 0.5:
        raise InvalidInputError(
            f"options.sign.box: the box ends at ({x2 - left:g}, {y2 - bottom:g}) pt, off the "
            f"page of {right - left:g} x {top - bottom:g} pt",
            field="options.sign.box",
        )
    return index, (round(x1), round(y1), round(x2), round(y2))


def _media_box(writer: IncrementalPdfFileWriter, index: int) -> tuple[float, float, float, float]:
    page_ref = writer.find_page_for_modification(index)[0]  # type: ignore[no-untyped-call]
    page: Any = page_ref.get_object()
    while page is not None:
        if "/MediaBox" in page:
            a, b, c, d = (float(v) for v in page["/MediaBox"])
            return min(a, c), min(b, d), max(a, c), max(b, d)
        page = page.get("/Parent")
        page = page.get_object() if page is not None else None
    return 0.0, 0.0, 612.0, 792.0


def _shown(text: str) -> str:
    """Text the stamp's standard font can draw (Latin-1); other characters become '?'. The
    signature dictionary keeps the text as given."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _caused_by_timestamp(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimestampRequestError) or "timestamp" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False
