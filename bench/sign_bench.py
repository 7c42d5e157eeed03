"""Signing benchmark: what a PAdES signature costs a worker, per document.

    scripts/bench.sh sign [--rounds 30]

The 5-page corpus document (bench/corpus/report5.html) is rendered once by
`pdfprompt render`; a test PKI and time-stamping authority are made with certomancer (the
tests' `tests/support/pki.py`: RSA-2048 keys, the TSA served over HTTP on 127.0.0.1 by
certomancer's animator in a thread of this process). Each case then runs `--rounds` times
and the median is shown:

- read key: a user's sealed PKCS#12 file read back into a key (done per job that signs
  with an uploaded certificate; the operator's is read once at start);
- B-B invisible, B-B visible (a box with the signer's name, reason and date);
- B-T visible: with an RFC 3161 timestamp from the local TSA (one HTTP round trip; the
  TSA's own CPU runs in another thread and is not counted);
- B-B encrypted: a PDF encrypted with AES-256 (pikepdf, R6) opened with its password.

CPU is the signing thread's own (`time.thread_time`), wall time includes the TSA's
answer; output growth is the signed file's size minus the unsigned one's.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pikepdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' PKI

from tests.support.pki import running_pki  # noqa: E402

from pdfprompt.domain import SignatureBox, Signing  # noqa: E402
from pdfprompt.pdf import TimestampAuthority, read_pkcs12, read_sealed_key, sign_pdf  # noqa: E402

PDFPROMPT = str(Path(sys.executable).with_name("pdfprompt"))


def _render(directory: Path) -> bytes:
    out = directory / "report5.pdf"
    subprocess.run(
        [PDFPROMPT, "render", str(ROOT / "bench/corpus/report5.html"), "-o", str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PDFPROMPT_DATA_DIR": str(directory / "data")},
    )
    return out.read_bytes()


def _encrypted(pdf: bytes) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as opened:
        opened.save(out, encryption=pikepdf.Encryption(user="u", owner="owner", R=6))
    return out.getvalue()


def _measure(run: Callable[[], bytes], rounds: int) -> tuple[float, float, int]:
    cpu, wall, size = [], [], 0
    run()  # warm: imports, the TSA client's first token size
    for _ in range(rounds):
        c0, w0 = time.thread_time(), time.perf_counter()
        size = len(run())
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, pyHanko {version('pyhanko')}, "
        f"cryptography {version('cryptography')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {args.rounds} rounds (median)"
    )
    with tempfile.TemporaryDirectory() as tmp, running_pki(Path(tmp) / "pki") as pki:
        pdf = _render(Path(tmp))
        encrypted = _encrypted(pdf)
        key = read_pkcs12(pki.pkcs12("alice"), "secret")
        sealed = key.to_pkcs12()
        stamper = TimestampAuthority(pki.tsa_url).stamper()
        box = SignatureBox(page=-1, x=300, y=40, width=240, height=70)
        visible = Signing(box=box, reason="Approved", location="Brussels")
        cases: dict[str, tuple[Callable[[], bytes], int]] = {
            "read key": (lambda: read_sealed_key(sealed).key_der, 0),
            "B-B invisible": (lambda: sign_pdf(pdf, key, Signing()), len(pdf)),
            "B-B visible": (lambda: sign_pdf(pdf, key, visible), len(pdf)),
            "B-T visible": (
                lambda: sign_pdf(
                    pdf,
                    key,
                    Signing(box=box, reason="Approved", timestamp=True),
                    timestamper=stamper,
                ),
                len(pdf),
            ),
            "B-B encrypted": (
                lambda: sign_pdf(encrypted, key, Signing(), password="owner"),
                len(encrypted),
            ),
        }
        print(f"document: report5.html, {len(pdf)} bytes, 5 pages")
        print("| case | CPU ms | wall ms | bytes added |\n|---|---:|---:|---:|")
        for name, (run, before) in cases.items():
            cpu, wall, size = _measure(run, args.rounds)
            added = f"{size - before:,}" if before else "-"
            print(f"| {name} | {cpu:.1f} | {wall:.1f} | {added} |")


if __name__ == "__main__":
    main()
