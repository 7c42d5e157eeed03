"""The repair pass of prompt jobs, end to end on both databases: the worker, the real
pipeline and Chromium, and the fake LLM over HTTP scripted with answers of the corpus."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from pdfprompt.accounts import AccountStore
from pdfprompt.devtools.fake_llm import FakeLlm
from pdfprompt.domain import Generator, Job, JobStage, JobStatus, JobType
from pdfprompt.generate import REPAIR_REQUEST_MARK, KeyRing, LlmClient
from pdfprompt.pipeline import JobPipeline
from pdfprompt.queue import JobContext, StoredFile, Worker, WorkerConfig, job_store_for
from pdfprompt.render import chromium_renderer
from pdfprompt.settings import Settings
from pdfprompt.storage import LocalStorage
from tests.support.prompts import Answer, corpus, fenced, served
from tests.support.store import new_job, new_user

DEFECT = next(a for a in corpus() if a.name == "defect-pua-glyph")


@pytest.fixture
def fake() -> Iterator[tuple[FakeLlm, str]]:
    fake = FakeLlm(stream=True)
    with served(fake) as url:
        yield fake, url


@dataclass
class Run:
    job: Job
    pdf_text: str
    html: str
    stages: list[JobStage] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    model_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        assert self.job.file is not None
        return [w.code for w in self.job.file.warnings]


@pytest.fixture
async def run_prompt(
    engine: AsyncEngine, tmp_path: Path, fake: tuple[FakeLlm, str]
) -> AsyncIterator[Any]:
    """Runs one prompt job whose model answers `script` (in order), with `options`."""
    server, url = fake
    llm = LlmClient(url, KeyRing(["sk-repair-test"]), ["m1"], timeout_s=5.0)
    storage = LocalStorage(tmp_path / "files")
    store = job_store_for(engine)
    user = await new_user(engine, "repair@example.com")
    async with chromium_renderer(Settings(max_pdf_concurrency=1)) as renderer:
        pipeline = JobPipeline(renderer, storage, llm)

        async def run(script: list[dict[str, str]], options: dict[str, Any]) -> Run:
            server.script = list(script)
            server.calls.clear()
            stages: list[JobStage] = []

            async def handler(ctx: JobContext) -> StoredFile:
                report = ctx.report

                async def seen(
                    stage: JobStage, progress: float, generator: Generator | None = None
                ) -> None:
                    if not stages or stages[-1] is not stage:
                        stages.append(stage)
                    await report(stage, progress, generator)

                ctx.report = seen  # type: ignore[method-assign]
                return await pipeline(ctx)

            queued = await store.enqueue(
                new_job(user, type=JobType.PROMPT, input="A contact sheet", options=options)
            )
            worker = Worker(store, handler, pipeline.discard, WorkerConfig(concurrency=1))
            await asyncio.wait_for(worker.run(burst=True), 120)
            job = await store.get(queued.id)
            assert job.status is JobStatus.SUCCEEDED, job.error
            assert job.file is not None and job.file.html_key is not None
            pdf = (tmp_path / "files" / job.file.storage_key).read_bytes()
            text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            html = (await storage.read(job.file.html_key)).decode()
            history, _ = await AccountStore(engine).history(
                user, period=None, limit=50, cursor=None
            )
            model_calls = [
                h for h in history if h["kind"] == "llm_call" and h.get("job_id") == job.id
            ]
            return Run(job, text, html, stages, list(server.calls), model_calls)

        yield run
    await llm.aclose()


def _answer(answer: Answer, *, repaired: bool = False) -> dict[str, str]:
    html = answer.repaired if repaired else answer.html
    assert html is not None
    return {"answer": fenced(html)}


async def test_a_print_with_findings_is_repaired_and_the_repaired_one_prints(
    run_prompt: Any,
) -> None:
    run = await run_prompt([_answer(DEFECT), _answer(DEFECT, repaired=True)], {})
    assert len(run.calls) == 2
    asked = run.calls[1]["prompt"]
    assert REPAIR_REQUEST_MARK in asked and "[missing_glyphs]" in asked
    assert "page 1: 3 characters" in asked  # the finding's message, where it is
    assert "\ue0b0" in asked  # the model's own HTML came back to it
    # The repaired document printed, with no finding, and is the one kept for revisions.
    assert run.codes == []
    assert "Phone:" in run.pdf_text and "Phone:" in run.html
    # Both calls are in the job's usage history, with the model that answered.
    assert [(c["kind"], c["generator"]) for c in run.model_calls] == [("llm_call", "m1")] * 2
    assert run.stages == [
        JobStage.GENERATING,
        JobStage.RENDERING,
        JobStage.CHECKING,
        JobStage.REPAIRING,
        JobStage.RENDERING,
        JobStage.CHECKING,
    ]


async def test_repair_false_makes_no_second_call(run_prompt: Any) -> None:
    run = await run_prompt([_answer(DEFECT), _answer(DEFECT, repaired=True)], {"repair": False})
    assert len(run.calls) == 1 and len(run.model_calls) == 1
    assert run.codes == ["missing_glyphs"]
    assert JobStage.REPAIRING not in run.stages
    assert "Phone:" not in run.pdf_text


async def test_a_clean_print_is_not_repaired(run_prompt: Any) -> None:
    clean = next(a for a in corpus() if a.name == "invoice-consulting")
    run = await run_prompt([_answer(clean)], {})
    assert len(run.calls) == 1 and run.codes == []
    assert JobStage.CHECKING in run.stages and JobStage.REPAIRING not in run.stages


async def test_a_failed_repair_keeps_the_first_print_and_says_so(run_prompt: Any) -> None:
    run = await run_prompt([_answer(DEFECT), {"behaviour": "500"}], {})
    assert len(run.calls) == 2 and len(run.model_calls) == 1  # the failed call answered nothing
    assert run.codes == ["missing_glyphs", "repair_failed"]
    assert "HTTP 500" in run.job.file.warnings[-1].message  # type: ignore[union-attr]
    assert "Phone:" not in run.pdf_text and "\ue0b0" in run.html


async def test_a_repair_that_prints_no_better_keeps_the_first(run_prompt: Any) -> None:
    """Unscripted, the fake answers a repair with the document it was sent: a tie, which
    keeps the first print."""
    run = await run_prompt([_answer(DEFECT)], {})
    assert len(run.calls) == 2 and len(run.model_calls) == 2
    assert run.codes == ["missing_glyphs", "repair_unused"]
