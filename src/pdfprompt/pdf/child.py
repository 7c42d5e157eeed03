"""The process a PDF a user brought is read in (`python -m pdfprompt.pdf.child`), started
afresh for each operation by `PdfWorkshop`: its address space and CPU time are capped before
it reads anything, so a PDF bomb that passes the checks of `operations` still fails alone.

It reads one request (JSON) from its standard input, works on the files the request names,
writes what it made to the paths the request gives and answers one line of JSON on its
standard output: `{"ok": true, ...}` or `{"ok": false, "code", "message"}`."""

from __future__ import annotations

import contextlib
import json
import resource
import sys
from pathlib import Path
from typing import Any


def _limit(memory_bytes: int, cpu_s: int) -> None:
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    with contextlib.suppress(ValueError, OSError):
        # SIGXCPU at the soft limit, SIGKILL at the hard one.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 2))


def _work(request: dict[str, Any]) -> dict[str, Any]:
    from pdfprompt.domain import PdfLimits
    from pdfprompt.pdf import operations

    limits = PdfLimits.from_dict(request["limits"])
    sources = [operations.Source(**s) for s in request.get("sources", [])]
    meta = request.get("meta", {})
    watermark = bool(request.get("watermark"))
    op = request["op"]
    answer: dict[str, Any] = {"ok": True}
    first_pdf: bytes | None = None
    if op == "inspect":
        answer.update(operations.inspect(sources[0].path, limits))
        return answer
    if op == "merge":
        data, pages = operations.merge(sources, limits, meta, watermark=watermark)
        answer["pages"], first_pdf = pages, data
    elif op == "split":
        data, entries = operations.split(
            sources[0], request["ranges"], limits, meta, watermark=watermark
        )
        answer["pages"] = sum(e["pages"] for e in entries)
        answer["entries"] = entries
        first_pdf = operations.first_part(data)
    elif op == "rewrite":
        data, pages = operations.rewrite(sources[0], limits, meta, watermark=watermark)
        answer["pages"], first_pdf = pages, data
    elif op == "thumbnail":
        data, first_pdf = b"", Path(sources[0].path).read_bytes()
    else:
        raise ValueError(f"unknown operation {op!r}")
    if data:
        Path(request["out"]).write_bytes(data)
    answer["thumbnail"] = False
    if request.get("thumbnail") and first_pdf is not None:
        answer["thumbnail"] = _thumbnail(first_pdf, request["thumbnail"])
    return answer


def _thumbnail(pdf: bytes, path: str) -> bool:
    """The first page drawn to `path`; False when it cannot be (the file is whole without
    one)."""
    from pdfprompt.pdf.thumbnail import first_page_png

    try:
        Path(path).write_bytes(first_page_png(pdf))
    except Exception:  # a file without a thumbnail is still whole
        return False
    return True


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    limits = request["limits"]
    _limit(int(limits["memory_bytes"]), int(limits["cpu_s"]))
    from pdfprompt.domain import PdfPromptError

    try:
        answer = _work(request)
    except PdfPromptError as exc:
        answer = {"ok": False, "code": exc.code, "message": exc.message}
    except MemoryError:
        answer = {
            "ok": False,
            "code": "pdf_too_complex",
            "message": "reading the PDF needed more memory than allowed",
        }
    except RecursionError:
        answer = {
            "ok": False,
            "code": "pdf_too_complex",
            "message": "the PDF's objects are nested too deeply to read",
        }
    except Exception as exc:  # pikepdf's many ways of saying a file is broken
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        answer = {
            "ok": False,
            "code": "pdf_malformed",
            "message": f"the PDF cannot be read ({text})",
        }
    if not answer["ok"]:  # the files are named as the caller names them, not by their paths
        for source in request.get("sources", []):
            answer["message"] = answer["message"].replace(source["path"], source["name"])
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
