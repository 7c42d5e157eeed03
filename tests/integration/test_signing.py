"""Signing PDFs against a local PKI and time-stamping authority (certomancer, over real HTTP
on loopback): what pyHanko's validator and poppler's pdfsig say of the result, the visible
box drawn on its page, PKCS#12 files people upload (good and hostile), the sealed keys in
the store on SQLite and PostgreSQL, and the signer the pipeline calls."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from pyhanko.sign.validation.status import SignatureCoverageLevel
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore, CertificateStore, Sealer
from pdfprompt.domain import (
    CertificateError,
    ConflictError,
    FinishOptions,
    InvalidInputError,
    NotFoundError,
    SignatureBox,
    Signing,
    SigningError,
    TimestampError,
    new_certificate_id,
)
from pdfprompt.pdf import (
    SigningSetup,
    TimestampAuthority,
    read_pkcs12,
    read_sealed_key,
    sign_pdf,
)
from pdfprompt.pipeline import CertificateSigner
from pdfprompt.pipeline.finishing import FinishTools, finish_pdf
from pdfprompt.storage import LocalStorage
from tests.support.pki import TestPki, running_pki
from tests.support.signatures import (
    blank_pdf,
    dark_pixels,
    page_image,
    pdfsig,
    validated,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPki]:
    with running_pki(tmp_path_factory.mktemp("pki")) as made:
        yield made


def _key(pki: TestPki, label: str = "alice"):  # type: ignore[no-untyped-def]
    return read_pkcs12(pki.pkcs12(label), "secret")


def test_a_timestamped_visible_signature_verifies_and_covers_the_whole_file(
    pki: TestPki, tmp_path: Path
) -> None:
    pdf = blank_pdf(pages=2)
    box = SignatureBox(page=-1, x=300, y=40, width=240, height=70)
    spec = Signing(box=box, reason="Approved", location="Brussels", timestamp=True)
    stamper = TimestampAuthority(pki.tsa_url).stamper()
    signed = sign_pdf(pdf, _key(pki), spec, timestamper=stamper)

    # The original bytes are kept as they were: the signature is an incremental update.
    assert signed.startswith(pdf)
    status = validated(signed, pki)
    assert status.bottom_line and status.trusted and status.intact
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    checked = pdfsig(signed, pki, tmp_path)
    assert checked.valid and checked.trusted and checked.whole_file, checked.output
    assert "Alice Operator" in checked.output and "ETSI.CAdES.detached" in checked.output

    # The box is drawn on the last page, where it was asked for, and nowhere on the first.
    last = page_image(signed, tmp_path, page=2)
    assert dark_pixels(last, (300, 40, 240, 70)) > 200
    assert dark_pixels(last, (36, 500, 240, 70)) == 0
    assert dark_pixels(page_image(signed, tmp_path, page=1), (300, 40, 240, 70)) == 0
    with pikepdf.open(io.BytesIO(signed)) as opened:
        field = opened.Root.AcroForm.Fields[0]
        assert str(field.V.Reason) == "Approved" and str(field.V.Location) == "Brussels"


def test_an_invisible_signature_without_a_timestamp_is_pades_b_b(
    pki: TestPki, tmp_path: Path
) -> None:
    pdf = blank_pdf()
    signed = sign_pdf(pdf, _key(pki, "bob"), Signing())
    status = validated(signed, pki)
    assert status.bottom_line and status.timestamp_validity is None
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    checked = pdfsig(signed, pki, tmp_path)
    assert checked.valid and checked.trusted and "Bob User" in checked.output
    assert dark_pixels(page_image(signed, tmp_path), (0, 0, 595, 842)) == 0
    # A byte changed after signing breaks it.
    at = signed.rindex(b"/Contents") - 40
    tampered = signed[:at] + bytes([signed[at] ^ 1]) + signed[at + 1 :]
    assert not pdfsig(tampered, pki, tmp_path).valid


def test_a_second_signature_keeps_the_first(pki: TestPki, tmp_path: Path) -> None:
    once = sign_pdf(blank_pdf(), _key(pki, "bob"), Signing())
    twice = sign_pdf(once, _key(pki), Signing(box=SignatureBox()))
    checked = pdfsig(twice, pki, tmp_path)
    assert checked.output.count("Signature is Valid.") == 2, checked.output
    assert "Signature #2" in checked.output


def test_a_foreign_certificate_signs_but_is_not_trusted(pki: TestPki, tmp_path: Path) -> None:
    signed = sign_pdf(blank_pdf(), _key(pki, "mallory"), Signing())
    status = validated(signed, pki)
    assert status.intact and status.valid and not status.trusted and not status.bottom_line
    checked = pdfsig(signed, pki, tmp_path)
    assert checked.valid and not checked.trusted, checked.output


def test_an_encrypted_pdf_is_signed_with_its_password_and_stays_encrypted(
    pki: TestPki, tmp_path: Path
) -> None:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(blank_pdf())) as pdf:
        pdf.save(
            out,
            encryption=pikepdf.Encryption(user="reader", owner="owner-secret", R=6),
        )
    encrypted = out.getvalue()
    signed = sign_pdf(encrypted, _key(pki), Signing(box=SignatureBox()), password="owner-secret")
    with pytest.raises(pikepdf.PasswordError):
        pikepdf.open(io.BytesIO(signed))
    with pikepdf.open(io.BytesIO(signed), password="reader") as opened:
        assert opened.is_encrypted and len(opened.Root.AcroForm.Fields) == 1
    assert validated(signed, pki, password="owner-secret").bottom_line
    checked = pdfsig(signed, pki, tmp_path, password="reader")
    assert checked.valid and checked.trusted, checked.output
    with pytest.raises(SigningError, match="password"):
        sign_pdf(encrypted, _key(pki), Signing(), password="wrong")
    # Only the user's password known (the owner's made at random), and changes not allowed
    # to its user: the signature is added all the same.
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(blank_pdf())) as pdf:
        allow = pikepdf.Permissions(modify_other=False, modify_annotation=False)
        pdf.save(out, encryption=pikepdf.Encryption(user="reader", owner="x" * 32, allow=allow))
    signed = sign_pdf(out.getvalue(), _key(pki), Signing(), password="reader")
    assert validated(signed, pki, password="reader").bottom_line


def test_what_cannot_be_signed_is_refused_with_its_reason(pki: TestPki) -> None:
    key = _key(pki)
    with pytest.raises(InvalidInputError) as page:
        sign_pdf(blank_pdf(2), key, Signing(box=SignatureBox(page=3)))
    assert page.value.field == "options.sign.box.page"
    with pytest.raises(InvalidInputError) as off:
        sign_pdf(blank_pdf(), key, Signing(box=SignatureBox(x=500, width=200)))
    assert off.value.field == "options.sign.box"
    with pytest.raises(SigningError):
        sign_pdf(b"%PDF-1.7\nnot really", key, Signing())
    with pytest.raises(SigningError):
        sign_pdf(blank_pdf(), key, Signing(timestamp=True), timestamper=None)
    # An authority nobody answers at: a transient failure, retried by the worker.
    gone = TimestampAuthority("http://127.0.0.1:9/tsa", timeout_s=2).stamper()
    with pytest.raises(TimestampError) as late:
        sign_pdf(blank_pdf(), key, Signing(timestamp=True), timestamper=gone)
    assert late.value.transient


def test_pkcs12_uploads_are_read_or_refused_naming_the_field(pki: TestPki) -> None:
    key = read_pkcs12(pki.pkcs12("bob"), "secret")
    info = key.info()
    assert info.subject.startswith("CN=Bob User") and "Intermediate" in info.issuer
    assert len(key.chain_der) == 1  # the intermediate, for verifiers to build the path
    assert read_sealed_key(key.to_pkcs12()) == key

    def refused(data: bytes, password: str | None) -> str | None:
        with pytest.raises(InvalidInputError) as exc:
            read_pkcs12(data, password)
        return exc.value.field

    assert refused(pki.pkcs12("bob"), "wrong") == "password"
    assert refused(pki.pkcs12("bob"), None) == "password"
    assert refused(b"not a certificate at all", "secret") == "file"
    assert refused(b"\x30\x82\xff\xff" + b"\x00" * 64, "secret") == "file"
    assert refused(pki.certificate_der("bob"), "secret") == "file"  # a bare certificate
    assert refused(pki.certificate_only_pkcs12("bob"), "secret") == "file"  # no key
    assert refused(pki.pkcs12("plain"), "secret") == "file"  # not for signatures
    # A file that would have the password stretched for long is refused before it is tried.
    assert refused(pki.stretched_pkcs12("bob", 700_000), "secret") == "file"
    assert read_pkcs12(pki.stretched_pkcs12("bob", 50_000), "secret").info() == info
    # A password-less file needs none.
    assert read_pkcs12(pki.pkcs12("bob", None), None).info() == info

    # Dates are judged apart, at upload and again at signing.
    with pytest.raises(CertificateError) as old:
        read_pkcs12(pki.pkcs12("old"), "secret").check_valid()
    assert old.value.code == "certificate_expired"
    with pytest.raises(CertificateError) as later:
        read_pkcs12(pki.pkcs12("later"), "secret").check_valid()
    assert later.value.code == "certificate_not_yet_valid"


def test_sealed_keys_open_only_with_their_secret_and_row() -> None:
    sealer = Sealer(b"x" * 40)
    sealed = sealer.seal(b"key bytes", b"crt_1\x00user")
    assert b"key bytes" not in sealed
    assert sealer.open(sealed, b"crt_1\x00user") == b"key bytes"
    with pytest.raises(CertificateError) as moved:
        sealer.open(sealed, b"crt_2\x00user")
    assert moved.value.code == "certificate_unreadable"
    with pytest.raises(CertificateError, match="another PDFPROMPT_SECRET_KEY"):
        Sealer(b"y" * 40).open(sealed, b"crt_1\x00user")


async def test_the_store_keeps_keys_sealed_for_their_owner_only(
    engine: AsyncEngine, pki: TestPki
) -> None:
    accounts = AccountStore(engine)
    owner = (await accounts.create_user("owner@example.com", "enterprise")).id
    other = (await accounts.create_user("other@example.com", "enterprise")).id
    store = CertificateStore(engine, Sealer(b"s" * 40))
    key = read_pkcs12(pki.pkcs12("bob"), "secret")
    made = await store.add(owner, new_certificate_id(), key.info(), key.to_pkcs12(), max_per_user=2)
    assert made.subject == key.info().subject and made.not_after.year == 2100
    assert read_sealed_key(await store.key_of(owner, made.id)) == key
    with pytest.raises(NotFoundError):
        await store.key_of(other, made.id)
    with pytest.raises(NotFoundError):
        await store.get(other, made.id)
    assert await store.list_certificates(other, limit=10, cursor=None) == []
    with pytest.raises(ConflictError):  # the same certificate twice
        await store.add(owner, new_certificate_id(), key.info(), key.to_pkcs12(), max_per_user=2)
    alice = read_pkcs12(pki.pkcs12("alice"), "secret")
    await store.add(owner, new_certificate_id(), alice.info(), alice.to_pkcs12(), max_per_user=2)
    mallory = read_pkcs12(pki.pkcs12("mallory"), "secret")
    with pytest.raises(ConflictError, match="at most 2"):
        await store.add(
            owner, new_certificate_id(), mallory.info(), mallory.to_pkcs12(), max_per_user=2
        )
    listed = await store.list_certificates(owner, limit=10, cursor=None)
    assert [c.subject.split(",")[0] for c in listed] == ["CN=Alice Operator", "CN=Bob User"]
    # Under another secret, the key is unreadable, with a code saying why.
    with pytest.raises(CertificateError) as other_secret:
        await CertificateStore(engine, Sealer(b"t" * 40)).key_of(owner, made.id)
    assert other_secret.value.code == "certificate_unreadable"
    await store.delete(owner, made.id)
    with pytest.raises(NotFoundError):
        await store.delete(owner, made.id)
    # The rest goes with the account.
    await accounts.delete_user(owner)
    assert await store.list_certificates(owner, limit=10, cursor=None) == []


async def test_the_pipelines_signer_checks_the_certificate_when_it_signs(
    engine: AsyncEngine, pki: TestPki, tmp_path: Path
) -> None:
    accounts = AccountStore(engine)
    user = (await accounts.create_user("signer@example.com", "enterprise")).id
    store = CertificateStore(engine, Sealer(b"s" * 40))
    bob = read_pkcs12(pki.pkcs12("bob"), "secret")
    made = await store.add(user, new_certificate_id(), bob.info(), bob.to_pkcs12(), max_per_user=5)
    setup = SigningSetup(_key(pki), TimestampAuthority(pki.tsa_url))
    tools = FinishTools(LocalStorage(tmp_path / "files"), None, CertificateSigner(setup, store))

    async def finish(sign: dict[str, object], signer_tools: FinishTools = tools) -> bytes:
        options = FinishOptions.from_dict({"sign": sign})
        done = await finish_pdf(
            blank_pdf(), options, signer_tools, user_id=user, plan_watermark=False
        )
        return done.data

    assert "Alice Operator" in pdfsig(await finish({"timestamp": True}), pki, tmp_path).output
    assert "Bob User" in pdfsig(await finish({"certificate": made.id}), pki, tmp_path).output

    async def code_of(sign: dict[str, object], signer_tools: FinishTools = tools) -> str:
        with pytest.raises(CertificateError) as exc:
            await finish(sign, signer_tools)
        assert not exc.value.transient
        return exc.value.code

    expired = FinishTools(
        tools.storage, None, CertificateSigner(SigningSetup(_key(pki, "old")), store)
    )
    assert await code_of({}, expired) == "certificate_expired"
    unset = FinishTools(tools.storage, None, CertificateSigner(SigningSetup(), store))
    assert await code_of({}, unset) == "signing_not_configured"
    assert await code_of({"certificate": made.id, "timestamp": True}, unset) == (
        "signing_not_configured"
    )
    await store.delete(user, made.id)
    assert await code_of({"certificate": made.id}) == "certificate_not_found"


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_ecdsa_and_ed25519_keys_sign_too(kind: str, tmp_path: Path) -> None:
    import datetime

    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    key = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "ecdsa"
        else (ed25519.Ed25519PrivateKey.generate())
    )
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"{kind} signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), True
        )
        .sign(key, hashes.SHA256() if kind == "ecdsa" else None)
    )
    data = pkcs12.serialize_key_and_certificates(
        b"k", key, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    signed = sign_pdf(blank_pdf(), read_pkcs12(data, "pw"), Signing(box=SignatureBox()))
    root = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    status = validate_pdf_signature(
        PdfFileReader(io.BytesIO(signed)).embedded_signatures[0], context
    )
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage is SignatureCoverageLevel.ENTIRE_FILE
