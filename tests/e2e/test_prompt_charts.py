"""A chart a model draws as inline SVG survives cleaning and prints: `pdfprompt serve` on
SQLite and on PostgreSQL, the fake LLM process answering with a bar chart, and the PDF read
with the tools people check PDFs with (pdftoppm, pdftotext)."""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.inline_svg import CHART_COLORS, CHART_LABELS
from tests.support.jobs import wait_final
from tests.support.llm import control, fake_llm, llm_env
from tests.support.processes import Process, create_key, serving

pytestmark = pytest.mark.one_database("sqlite")


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fake_llm(tmp_path_factory.mktemp("fake-llm-charts"), "--stream") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, llm: str
) -> Iterator[tuple[Process, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp(f"charts-{request.param}")
    with serving(request, tmp, request.param, **llm_env(llm)) as server:
        yield server


def _pixels_near(png: Path, color: tuple[int, int, int], tolerance: int = 12) -> int:
    picture = Image.open(png).convert("RGB")
    return sum(
        count
        for count, c in picture.getcolors(maxcolors=1 << 24) or []
        if all(abs(a - b) <= tolerance for a, b in zip(c, color, strict=True))
    )


def test_a_chart_in_svg_prints_with_its_colours_and_labels(
    served: tuple[Process, dict[str, str]], llm: str, tmp_path: Path
) -> None:
    server, env = served
    control(llm, reset=True, behaviours={"model:fake-large": "chart"})
    key = create_key(env, "charts@example.com")
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        job = c.post("/v1/jobs", json={"type": "prompt", "input": "Quarterly regional report"})
        assert job.status_code == 202, job.text
        done, _ = wait_final(c, job.json()["id"])
        assert done["status"] == "succeeded", done
        assert done["generator"] == "llm"
        pdf = tmp_path / "chart.pdf"
        pdf.write_bytes(c.get(f"/v1/jobs/{done['id']}/pdf").content)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-f", "1", "-l", "1", "-png", pdf, tmp_path / "page"],
        check=True,
    )
    (page,) = tmp_path.glob("page*.png")
    # Each bar is 60 x 100-140 user units at 1 unit = 1 CSS px: some thousand pixels at
    # 60 dpi; a colour found only in anti-aliased edges would be a few dozen.
    for name, color in CHART_COLORS.items():
        assert _pixels_near(page, color) > 500, name
    text = subprocess.run(
        ["pdftotext", "-layout", pdf, "-"], check=True, capture_output=True, text=True
    ).stdout
    text = unicodedata.normalize("NFKC", text)
    for label in CHART_LABELS:
        assert label in text, label
