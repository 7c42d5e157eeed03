"""A test PKI made with certomancer: a root and an intermediate CA, the operator's and a
user's signing certificates, an expired one, one not valid yet, one without signing in its
key usage, a foreign root with its own signer, and a time-stamping authority served over
real HTTP on loopback by certomancer's animator (a WSGI app, run by werkzeug in a thread).

`TestPki.pkcs12(label, password)` packages a certificate with its key and chain as a
PKCS#12 file, as a user would upload it."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

ARCH = "testing"
FOREIGN_ARCH = "foreign"
KEY_PASSWORD = "secret"
_KEYS = ("root", "interm", "tsa", "alice", "bob", "old", "later", "plain", "root2", "mallory")


def _validity(start: str, end: str) -> str:
    return f"""
        validity:
          valid-from: "{start}T00:00:00+0000"
          valid-to: "{end}T00:00:00+0000\""""


_SIGNER_USAGE = """
        extensions:
          - id: key_usage
            critical: true
            smart-value:
              schema: key-usage
              params: [digital_signature, non_repudiation]"""

_CA_EXTENSIONS = """
        extensions:
          - id: basic_constraints
            critical: true
            value:
              ca: true
          - id: key_usage
            critical: true
            smart-value:
              schema: key-usage
              params: [digital_signature, key_cert_sign, crl_sign]"""


def _config(url: str) -> str:
    keys = "\n".join(f"      {k}:\n        path: {k}.key.pem" for k in _KEYS)
    return f"""
external-url-prefix: "{url}"
keysets:
  testing:
    path-prefix: keys
    keys:
{keys}
pki-architectures:
  {ARCH}:
    keyset: testing
    entity-defaults:
      country-name: BE
      organization-name: pdfprompt tests
    entities:
      root: {{common-name: Test Root CA}}
      interm: {{common-name: Test Intermediate CA}}
      tsa: {{common-name: Test Time Stamping Authority}}
      alice: {{common-name: Alice Operator}}
      bob: {{common-name: Bob User}}
      old: {{common-name: Olga Expired}}
      later: {{common-name: Leo Later}}
      plain: {{common-name: Paula Encipherment}}
    certs:
      root:
        subject: root
        issuer: root{_validity("2000-01-01", "2200-01-01")}{_CA_EXTENSIONS}
      interm:
        issuer: root{_validity("2000-01-01", "2150-01-01")}{_CA_EXTENSIONS}
      tsa:
        issuer: root{_validity("2000-01-01", "2150-01-01")}
        extensions:
          - id: key_usage
            critical: true
            smart-value:
              schema: key-usage
              params: [digital_signature]
          - id: extended_key_usage
            critical: true
            value: [time_stamping]
      alice:
        issuer: interm{_validity("2020-01-01", "2100-01-01")}{_SIGNER_USAGE}
      bob:
        issuer: interm{_validity("2020-01-01", "2100-01-01")}{_SIGNER_USAGE}
      old:
        issuer: interm{_validity("2015-01-01", "2020-01-01")}{_SIGNER_USAGE}
      later:
        issuer: interm{_validity("2090-01-01", "2100-01-01")}{_SIGNER_USAGE}
      plain:
        issuer: interm{_validity("2020-01-01", "2100-01-01")}
        extensions:
          - id: key_usage
            critical: true
            smart-value:
              schema: key-usage
              params: [key_encipherment]
    services:
      time-stamping:
        tsa:
          signing-key: tsa
          signing-cert: tsa
  {FOREIGN_ARCH}:
    keyset: testing
    entity-defaults:
      country-name: BE
      organization-name: somebody else
    entities:
      root2: {{common-name: Foreign Root CA}}
      mallory: {{common-name: Mallory Foreign}}
    certs:
      root2:
        subject: root2
        issuer: root2{_validity("2000-01-01", "2200-01-01")}{_CA_EXTENSIONS}
      mallory:
        issuer: root2{_validity("2020-01-01", "2100-01-01")}{_SIGNER_USAGE}
"""


@dataclass
class TestPki:
    """The PKI's files under `directory`, and the TSA's URL."""

    __test__ = False  # not a test class, whatever its name

    directory: Path
    tsa_url: str
    archs: dict[str, object]

    def _arch(self, label: str) -> object:
        return self.archs[FOREIGN_ARCH if label in ("root2", "mallory") else ARCH]

    def certificate_der(self, label: str) -> bytes:
        der: bytes = self._arch(label).get_cert(label).dump()  # type: ignore[attr-defined]
        return der

    def pkcs12(self, label: str, password: str | None = KEY_PASSWORD) -> bytes:
        """The certificate `label` with its key and chain (root excluded) as PKCS#12."""
        arch = self._arch(label)
        chain = [c for c in arch.get_chain(label) if c not in ("root", "root2")]  # type: ignore[attr-defined]
        data: bytes = arch.package_pkcs12(  # type: ignore[attr-defined]
            label, certs_to_embed=chain, password=password.encode() if password else None
        )
        return data

    def pkcs12_file(self, label: str, password: str | None = KEY_PASSWORD) -> Path:
        path = self.directory / f"{label}.p12"
        path.write_bytes(self.pkcs12(label, password))
        return path

    def certificate_only_pkcs12(self, label: str, password: str = KEY_PASSWORD) -> bytes:
        """A PKCS#12 file with the certificate and no private key."""
        cert = x509.load_der_x509_certificate(self.certificate_der(label))
        return pkcs12.serialize_key_and_certificates(
            b"cert",
            None,
            cert,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        )

    def stretched_pkcs12(self, label: str, rounds: int, password: str = KEY_PASSWORD) -> bytes:
        """The certificate `label` as PKCS#12 whose password is stretched `rounds` times."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        plain = pkcs12.load_pkcs12(self.pkcs12(label, None), None)
        key = load_der_private_key(
            plain.key.private_bytes(  # type: ignore[union-attr]
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            None,
        )
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(rounds)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        return pkcs12.serialize_key_and_certificates(
            b"k",
            key,  # type: ignore[arg-type]
            plain.cert.certificate,  # type: ignore[union-attr]
            None,
            encryption,
        )

    def root_pem(self, label: str = "root") -> Path:
        path = self.directory / f"{label}.crt"
        cert = x509.load_der_x509_certificate(self.certificate_der(label))
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def nss_db(self) -> Path:
        """An NSS database trusting the test root, for `pdfsig -nssdir`."""
        nss = self.directory / "nss"
        if not nss.exists():
            nss.mkdir()
            subprocess.run(
                ["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    *("certutil", "-A", "-d", f"sql:{nss}", "-n", "pdfprompt test root"),
                    *("-t", "CT,C,C", "-i", str(self.root_pem())),
                ],
                check=True,
                capture_output=True,
            )
        return nss


def _write_keys(directory: Path) -> None:
    keys = directory / "keys"
    keys.mkdir(parents=True)
    for name in _KEYS:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (keys / f"{name}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@contextlib.contextmanager
def running_pki(directory: Path) -> Iterator[TestPki]:
    """The PKI made under `directory`, its TSA listening on 127.0.0.1 while open."""
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import CertomancerConfig
    from werkzeug.serving import make_server

    _write_keys(directory)
    # The port is known once the server listens; the URL prefix only names the PKI's own
    # links (none of the certificates here point to it).
    server = make_server("127.0.0.1", 0, lambda e, s: app(e, s), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    config = CertomancerConfig.from_yaml(_config(url), key_search_dir=str(directory))
    animator = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)

    def app(environ: object, start_response: object) -> object:
        return animator(environ, start_response)

    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    thread.start()
    try:
        yield TestPki(directory, f"{url}/{ARCH}/tsa/tsa", dict(config.pki_archs))
    finally:
        server.shutdown()
        thread.join()
