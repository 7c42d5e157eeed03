"""`pdfprompt dev`: tools for development and tests (the fake LLM server)."""

from __future__ import annotations

import argparse

from pdfprompt.cli.common import SubParsers
from pdfprompt.settings import Settings


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    dev = sub.add_parser("dev", help="development and test tools")
    ds = dev.add_subparsers(dest="dev_command", required=True)
    fl = ds.add_parser("fake-llm", help="an OpenAI-compatible server for tests and benchmarks")
    fl.add_argument("--host", default="127.0.0.1")
    fl.add_argument("--port", type=int, default=8790)
    fl.add_argument("--latency-ms", type=int, default=0, help="wait before each answer")
    fl.add_argument("--stream", action="store_true", help="stream answers when asked to")
    fl.add_argument("--chunk-ms", type=int, default=0, help="wait between streamed chunks")
    fl.add_argument(
        "--behaviour",
        action="append",
        default=[],
        metavar="KEY=WHAT",
        help="per key or model:NAME: answer, 429[:seconds], 401, 403, 500, hang, empty, text, "
        "hostile (repeatable; POST /_control changes them while running)",
    )
    fl.set_defaults(run=_fake_llm)


def _fake_llm(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from pdfprompt.devtools import FakeLlm, create_fake_llm_app

    fake = FakeLlm(latency_ms=args.latency_ms, stream=args.stream, chunk_ms=args.chunk_ms)
    for item in args.behaviour:
        who, _, what = item.partition("=")
        fake.behaviours[who] = what or "answer"
    print(f"fake LLM on http://{args.host}:{args.port}/v1", flush=True)
    config = uvicorn.Config(
        create_fake_llm_app(fake), host=args.host, port=args.port, log_level="warning"
    )
    uvicorn.Server(config).run()
