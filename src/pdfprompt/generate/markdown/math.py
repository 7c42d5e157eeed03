"""TeX formulas as MathML (latex2mathml), which Chromium prints natively and which needs no
script; a formula the converter cannot take is shown as its source in code style, with a
`math_unsupported` warning."""

from __future__ import annotations

import functools
import html
import re

from latex2mathml.converter import convert

from pdfprompt.domain import JobWarning

MAX_FORMULA_CHARS = 4_000
MAX_MATH_WARNINGS = 10
# Formulas converted in one document (each takes the converter a fraction of a millisecond,
# and a megabyte of `$x$` would take it seconds); the rest are shown as their source.
MAX_FORMULAS = 2_000
# Environments latex2mathml knows; any other `\begin{…}` would vanish without a word.
_ENVIRONMENTS = frozenset(
    {
        "matrix",
        "pmatrix",
        "bmatrix",
        "Bmatrix",
        "vmatrix",
        "Vmatrix",
        "smallmatrix",
        "cases",
        "array",
        "aligned",
        "align",
        "align*",
        "split",
        "gathered",
        "substack",
        "eqnarray",
        "multline",
    }
)
_BEGIN = re.compile(r"\\begin\{([^}]*)\}")
# A command the converter did not know comes out as an identifier spelled with a backslash.
_UNKNOWN = re.compile(r"<m[io][^>]*>\\[A-Za-z]")


def formula(tex: str, *, display: bool, warnings: list[JobWarning], count: int = 0) -> str:
    """`tex` as a MathML `<math>` element, or as its source (`<code class="math-source">`)
    with a warning appended to `warnings` when it cannot be converted; `count`: the formulas
    of the document before this one (past `MAX_FORMULAS`, none is converted)."""
    tex = tex.strip()
    if count >= MAX_FORMULAS:
        if count == MAX_FORMULAS:
            warnings.append(
                JobWarning(
                    "math_unsupported",
                    f"formulas after the first {MAX_FORMULAS} are shown as their source",
                )
            )
        return _source(tex, display=display)
    mathml, problem = _converted(tex, display)
    if problem is None:
        return f'<span class="math display">{mathml}</span>' if display else mathml
    if len(warnings) < MAX_MATH_WARNINGS:
        shown = tex if len(tex) <= 80 else tex[:79] + "…"
        warnings.append(
            JobWarning("math_unsupported", f"formula shown as source ({problem}): {shown}")
        )
    return _source(tex, display=display)


def _source(tex: str, *, display: bool) -> str:
    source = html.escape(tex)
    if display:
        return f'<pre class="math-source"><code>{source}</code></pre>\n'
    return f'<code class="math-source">{source}</code>'


@functools.lru_cache(maxsize=1024)
def _converted(tex: str, display: bool) -> tuple[str, str | None]:
    """The MathML of a formula, or why there is none (a document repeats its formulas: each
    is converted once)."""
    problem = None
    mathml = ""
    if len(tex) > MAX_FORMULA_CHARS:
        problem = f"over {MAX_FORMULA_CHARS} characters"
    elif any(env not in _ENVIRONMENTS for env in _BEGIN.findall(tex)):
        problem = "an environment the converter does not know"
    else:
        try:
            mathml = convert(tex, display="block" if display else "inline")
        except Exception:  # the converter raises anything on a bad formula
            problem = "not a formula the converter understands"
        else:
            if _UNKNOWN.search(mathml):
                problem = "a command the converter does not know"
    return mathml, problem
