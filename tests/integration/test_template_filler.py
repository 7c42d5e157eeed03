"""The processes that fill templates: a child's start-up (a fresh interpreter and its
imports, slow on a busy machine) is not counted against the template's time limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from pdfprompt.domain import TemplateEngine, TemplateTimeoutError
from pdfprompt.generate import TemplateFiller


async def test_a_slow_start_is_not_the_templates_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every child interpreter takes 3 s to start; the template may take half a second.
    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    filler = TemplateFiller(timeout_s=0.5, max_chars=100_000, processes=1)
    try:
        html = await filler.fill("<p>{{ name }}</p>", TemplateEngine.HTML, {"name": "Ada"})
        assert "<p>Ada</p>" in html and filler.killed == 0
        # The limit still holds for the filling itself.
        with pytest.raises(TemplateTimeoutError):
            await filler.fill(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                TemplateEngine.HTML,
                {},
            )
    finally:
        await filler.aclose()
