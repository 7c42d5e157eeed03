"""The print-quality check and the repair pass on the prompt corpus (tests/data/prompts/).

    scripts/bench.sh prompts [--provider fake|settings] [--rounds R] [--cost-renders N]

Each model answer of the corpus runs as a prompt job through the real pipeline (worker,
job store on a fresh SQLite database, Chromium, local storage). The model is:

- `fake` (default): the fake LLM peer (`pdfprompt dev fake-llm`'s app, on loopback),
  scripted to give the corpus answer first and, on a repair call, the document's
  corrected answer (`NAME.repaired.html`) where the corpus has one, else the document it
  was sent. This measures the pass's mechanics, not a model.
- `settings`: the corpus answer is still the first answer (so every document starts
  with the same defects), and the repair call goes to the model the LLM settings name:
  `OPENROUTER_API_KEY` (or `OPENROUTER_API_KEY1`…), `OPENROUTER_BASE_URL`,
  `PDFPROMPT_LLM_MODELS` (docs/configuration.md). This measures a real model's repairs.

For each document it prints the findings of the first print (the check run on the corpus
answer), the findings of the print the job kept, and the model calls the job made; then
the share of the corpus printed with no finding before and after. It also measures what
the check costs: CPU seconds (this process and its browsers) per render of
src/pdfprompt/cli/corpus/invoice.html with the check on and off, in alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import uvicorn
from benchlib import free_port

from pdfprompt.accounts import AccountStore
from pdfprompt.db import create_engine, upgrade
from pdfprompt.devtools.fake_llm import FakeLlm, create_fake_llm_app
from pdfprompt.domain import QUALITY_CODES, JobStatus, JobType, RenderOptions
from pdfprompt.generate import (
    REPAIR_REQUEST_MARK,
    KeyRing,
    LlmClient,
    clean_document,
    llm_client_from_settings,
)
from pdfprompt.pdf import printed_findings
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import NewJob, Worker, WorkerConfig, job_store_for
from pdfprompt.render import chromium_renderer
from pdfprompt.render.chromium import tab
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "prompts"
INVOICE = ROOT / "src" / "pdfprompt" / "cli" / "corpus" / "invoice.html"


def corpus() -> list[tuple[str, str, list[str]]]:
    listed = json.loads((CORPUS / "corpus.json").read_text())["documents"]
    return [(name, d["kind"], d["expect"]) for name, d in listed.items()]


def fenced(html: str) -> str:
    return "```html\n" + html + "\n```"


@contextlib.contextmanager
def served(fake: FakeLlm) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_fake_llm_app(fake), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(5)


class FirstAnswerFromCorpus:
    """The model of `--provider settings`: the corpus answer first, then the configured
    model for every later call (the repair)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.first: str | None = None

    async def write(self, messages: list[dict[str, str]], progress: Any = None, **kw: Any) -> Any:
        if self.first is not None and REPAIR_REQUEST_MARK not in messages[-1]["content"]:
            answer, self.first = self.first, None
            return answer, "corpus"
        return await self.real.write(messages, progress, **kw)


def codes(warnings: Any) -> list[str]:
    return sorted(w.code for w in warnings if w.code in QUALITY_CODES)


async def run_corpus(provider: str, tmp: Path) -> list[dict[str, Any]]:
    settings = Settings(data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'b.sqlite3'}")
    engine = create_engine(settings)
    await upgrade(engine)
    store = job_store_for(engine)
    accounts = AccountStore(engine)
    user = (await accounts.create_user("bench@example.com", "enterprise")).id
    storage = LocalStorage(tmp / "files")
    fake = FakeLlm(stream=True)
    rows: list[dict[str, Any]] = []
    with served(fake) as url:
        if provider == "fake":
            llm: Any = LlmClient(url, KeyRing(["sk-bench"]), ["fake-large"])
            model = llm
        else:
            real = llm_client_from_settings(Settings())
            if real is None:
                raise SystemExit("--provider settings: no LLM key is configured")
            llm = real
            model = FirstAnswerFromCorpus(real)
        async with chromium_renderer(Settings(max_pdf_concurrency=1)) as renderer:
            pipeline = JobPipeline(renderer, storage, model)
            for name, kind, expect in corpus():
                html = (CORPUS / f"{name}.html").read_text()
                repaired = CORPUS / f"{name}.repaired.html"
                first = await renderer.render(clean_document(html), RenderOptions())
                before = codes((*first.warnings, *printed_findings(first.data)))
                fake.calls.clear()
                fake.script = [{"answer": fenced(html)}]
                if repaired.exists():
                    fake.script.append({"answer": fenced(repaired.read_text())})
                if isinstance(model, FirstAnswerFromCorpus):
                    model.first = html
                job = await store.enqueue(
                    NewJob(
                        user_id=user, type=JobType.PROMPT, input=kind, options={}, max_attempts=1
                    )
                )
                worker = Worker(store, pipeline, pipeline.discard, WorkerConfig(concurrency=1))
                await worker.run(burst=True)
                done = await store.get(job.id)
                assert done.status is JobStatus.SUCCEEDED, done.error
                assert done.file is not None
                history, _ = await accounts.history(user, period=None, limit=10, cursor=None)
                calls = sum(
                    1 for h in history if h.get("job_id") == job.id and h["kind"] == "llm_call"
                )
                after = codes(done.file.warnings)
                notes = [w.code for w in done.file.warnings if w.code.startswith("repair_")]
                rows.append(
                    {
                        "name": name,
                        "expect": expect,
                        "before": before,
                        "after": after,
                        "calls": calls,
                        "notes": notes,
                    }
                )
    if llm is not None:
        await llm.aclose()
    await engine.dispose()
    return rows


async def check_parts(renders: int) -> tuple[float, float]:
    """The check's own share of a render of the invoice, measured directly: the median
    wall time of the layout half (the page's evaluation and its answer: an upper bound of
    the browser's CPU for it), and the CPU time of the PDF half."""
    document = clean_document(INVOICE.read_text())
    measure = tab.inspect_layout
    spent: list[float] = []

    async def timed(*args: Any) -> Any:
        start = time.perf_counter()
        found = await measure(*args)
        spent.append(time.perf_counter() - start)
        return found

    tab.inspect_layout = timed  # type: ignore[assignment]
    try:
        async with chromium_renderer(Settings(max_pdf_concurrency=1)) as renderer:
            for _ in range(5):
                out = await renderer.render(document, RenderOptions())
            spent.clear()
            for _ in range(renders):
                out = await renderer.render(document, RenderOptions())
    finally:
        tab.inspect_layout = measure  # type: ignore[assignment]
    start = time.process_time()
    for _ in range(renders):
        printed_findings(out.data)
    pdf_s = (time.process_time() - start) / renders
    return sorted(spent)[len(spent) // 2], pdf_s


async def check_cost(renders: int, rounds: int) -> tuple[float, float]:
    """CPU seconds per render of the invoice (this process and its browsers), with the
    check on and off: the median of `rounds` alternating rounds of `renders` each."""
    document = clean_document(INVOICE.read_text())
    me = psutil.Process()

    def cpu() -> float:
        total = 0.0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + getattr(t, "children_user", 0.0)
        return total

    per: dict[bool, list[float]] = {True: [], False: []}
    renderers = {}
    for check in (True, False):
        renderers[check] = chromium_renderer(Settings(max_pdf_concurrency=1, print_check=check))
    for renderer in renderers.values():
        await renderer.__aenter__()
    try:
        for _ in range(rounds):
            for check in (True, False):
                renderer = renderers[check]
                for _ in range(5):  # warm
                    await renderer.render(document, RenderOptions())
                start = cpu()
                for _ in range(renders):
                    out = await renderer.render(document, RenderOptions())
                    if check:
                        await asyncio.to_thread(printed_findings, out.data)
                per[check].append((cpu() - start) / renders)
    finally:
        for renderer in renderers.values():
            await renderer.__aexit__(None, None, None)
    on = sorted(per[True])[len(per[True]) // 2]
    off = sorted(per[False])[len(per[False]) // 2]
    return on, off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=["fake", "settings"], default="fake")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the cost measurement")
    parser.add_argument("--cost-renders", type=int, default=100, help="renders per round")
    args = parser.parse_args()
    print(
        f"# prompts bench · {platform.platform()} · Python {sys.version.split()[0]} · "
        f"{os.cpu_count()} CPUs · provider {args.provider}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run_corpus(args.provider, Path(tmp)))
    print("\n| document | deliberate defect | findings before | after repair | model calls |")
    print("|---|---|---|---|---|")
    for row in rows:
        before = ", ".join(row["before"]) or "none"
        after = ", ".join(row["after"]) or "none"
        if row["notes"]:
            after += f" ({', '.join(row['notes'])})"
        expect = ", ".join(row["expect"]) or "—"
        print(f"| {row['name']} | {expect} | {before} | {after} | {row['calls']} |")
    n = len(rows)
    clean_before = sum(1 for r in rows if not r["before"])
    clean_after = sum(1 for r in rows if not r["after"])
    defects = [r for r in rows if r["expect"]]
    found = sum(1 for r in defects if set(r["expect"]) <= set(r["before"]))
    print(
        f"\n{n} documents; deliberate defects found: {found}/{len(defects)}; printed with "
        f"no finding: before repair "
        f"{clean_before}/{n} ({100 * clean_before / n:.0f} %), after {clean_after}/{n} "
        f"({100 * clean_after / n:.0f} %)"
    )
    on, off = asyncio.run(check_cost(args.cost_renders, args.rounds))
    print(
        f"\ncheck cost, invoice.html (median of {args.rounds} rounds x {args.cost_renders} "
        f"renders, CPU of this process and its browsers): {1000 * on:.2f} ms/render with "
        f"the check, {1000 * off:.2f} ms without: +{1000 * (on - off):.2f} ms "
        f"({100 * (on - off) / off:+.0f} %)"
    )
    layout_s, pdf_s = asyncio.run(check_parts(args.cost_renders * 2))
    print(
        f"check parts, invoice.html (median of {args.cost_renders * 2}): layout half "
        f"{1000 * layout_s:.2f} ms wall (the page's evaluation, an upper bound of its CPU), "
        f"PDF half {1000 * pdf_s:.2f} ms CPU"
    )


if __name__ == "__main__":
    main()
