"""Markdown features, pdfprompt against its peers: one feature document printed three ways,
each PDF read back with poppler and pikepdf, and a table of feature by tool with the exact
command of each column.

    scripts/bench.sh markdown-compare [--input FILE] [--out DIR]
        [--tools pdfprompt,pandoc,md-to-pdf]

(a) pdfprompt: `pdfprompt render FILE` (today's converter, as the worker prints it).
(b) Pandoc (Debian's `pandoc`): standalone HTML with `--toc --mathml`, printed by the same
    Chromium through `pdfprompt render --type html` (same paper, same engine).
(c) md-to-pdf (npm, `bench/md-to-pdf`, installed by `scripts/setup.sh bench`): its own
    Puppeteer, pointed at Debian's Chromium (no browser download).

Each feature is judged by a rule on what printed (`RULES`; text per page from
`pdftotext -layout`, word boxes from `pdftotext -bbox`, links, title and fill colours from
pikepdf), never by the tool's word. Runs offline once `scripts/setup.sh bench` has run. Not
a test: a peer missing is a column of "not run" with the reason."""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The comparison's feature document: each rule below reads its text, and it is written in
# the syntax the three tools share where they differ (Pandoc's `{#id}`, `{.numberLines}`).
FEATURES = ROOT / "bench" / "markdown_compare.md"
MD_TO_PDF = ROOT / "bench" / "md-to-pdf" / "node_modules" / ".bin" / "md-to-pdf"
PDFPROMPT = str(Path(sys.executable).with_name("pdfprompt"))
TOOLS = ("pdfprompt", "pandoc", "md-to-pdf")
# Pandoc's own Markdown has footnotes, definition lists, attributes, math, task lists and
# smart quotes; bare URLs become links only when asked.
PANDOC_FROM = "markdown+autolink_bare_uris"


@dataclass(frozen=True)
class Word:
    text: str
    page: int
    x_min: float
    x_max: float


@dataclass
class Printed:
    """What a PDF shows: its pages' text (layout kept), word boxes, links and fill colours."""

    pages: list[str]
    words: list[Word] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    internal_links: list[str] = field(default_factory=list)
    title: str = ""
    author: str = ""
    colours: set[tuple[float, float, float]] = field(default_factory=set)
    html: str = ""  # the HTML the tool printed, where it can say (checkboxes only)

    @property
    def text(self) -> str:
        """All pages, NFKC-folded (mathematical italic letters plain), runs of spaces as one."""
        folded = unicodedata.normalize("NFKC", "\n".join(self.pages))
        return re.sub(r"[ \t]+", " ", folded)

    def page_of(self, needle: str) -> int | None:
        """The last page that prints `needle` (a contents list names a heading earlier)."""
        for number in reversed(range(len(self.pages))):
            if needle in unicodedata.normalize("NFKC", self.pages[number]):
                return number
        return None


# -- the rules: one per feature, on what printed ------------------------------------

CHECKBOX_GLYPHS = "☐☑☒✅✓✔"
SECTIONS = (
    "Task lists",
    "Footnotes",
    "Definition lists",
    "Heading ids",
    "Smart quotes",
    "Highlighted code",
    "Math",
    "Admonitions",
    "Tables",
    "Links and strikethrough",
    "After the break",
)


def task_list(p: Printed) -> bool:
    """No literal `[x]`/`[ ]`, and a checkbox: a glyph in the text or an input in the HTML."""
    items = [line for line in p.text.splitlines() if "Audit finished" in line]
    if not items or any("[x]" in line or "[ ]" in line for line in p.text.splitlines()):
        return False
    return any(g in p.text for g in CHECKBOX_GLYPHS) or bool(
        re.search(r"<input[^>]*type=\"?checkbox", p.html, re.I)
    )


def footnote(p: Printed) -> bool:
    """The footnote's text printed after the last section's, and no `[^…]` left."""
    text = p.text
    note, last = text.rfind("The footnote text lives here"), text.rfind("closing words")
    return "[^" not in text and note > last >= 0


def definition_list(p: Printed) -> bool:
    """The definition printed, not as a line starting with `:`."""
    return "A red fruit definition" in p.text and ": A red fruit" not in p.text


def heading_id(p: Printed) -> bool:
    """No literal `{#custom-id}`, and the link to it is a link inside the PDF."""
    return "{#" not in p.text and any("custom-id" in d for d in p.internal_links)


def smart_quotes(p: Printed) -> bool:
    return all(
        s in p.text for s in ("\u201cDouble quotes\u201d", "\u2018single quotes\u2019", "\u2014")
    ) and "--" not in (p.text)


def highlighting(p: Printed) -> bool:
    """Code in colour: three or more fill colours that are not grey."""
    colourful = {c for c in p.colours if max(c) - min(c) > 0.08}
    return len(colourful) >= 3


def line_numbers(p: Printed) -> bool:
    """Each code line printed after its number."""
    return bool(
        re.search(r"\b1\s+total = sum", p.text) and re.search(r"\b2\s+print\(total\)", p.text)
    )


def inline_math(p: Printed) -> bool:
    """`$E = mc^2$` typeset: E = mc with no dollar or caret left."""
    return bool(re.search(r"E ?= ?mc", p.text)) and "$E" not in p.text and "mc^2" not in p.text


def display_math(p: Printed) -> bool:
    """`$$\\int…$$` typeset: an integral sign, no TeX source."""
    return "∫" in p.text and not any(s in p.text for s in ("$$", "\\int", "\\frac"))


def no_dollars(p: Printed) -> bool:
    return "$" not in p.text


def front_matter_hidden(p: Printed) -> bool:
    """The YAML front matter is not printed as text."""
    return not re.search(r"\b(title|author|toc): ", p.text)


def front_matter_title(p: Printed) -> bool:
    """Its title is the PDF's title; its author is printed or the PDF's author."""
    return p.title == "Feature Tour" and ("Ada Example" in p.text or p.author == "Ada Example")


def toc_listed(p: Printed) -> bool:
    """A table of contents: every section's heading printed twice (entry and heading),
    and the entries before the first section."""
    text = p.text
    if not all(text.count(s) >= 2 for s in SECTIONS):
        return False
    first_entry = text.find("Task lists")
    return first_entry < text.find("Audit finished") and text.find("After the break") < text.find(
        "Audit finished"
    )


def toc_marker(p: Printed) -> bool:
    return "[[toc]]" not in p.text


def page_break(p: Printed) -> bool:
    """No marker printed, and the heading after it starts a page."""
    if "\\pagebreak" in p.text or "pagebreak" in p.text:
        return False
    number = p.page_of("After the break")
    if number is None:
        return False
    lines = [line.strip() for line in p.pages[number].splitlines() if line.strip()]
    return bool(lines) and lines[0].startswith("After the break")


def admonition(p: Printed) -> bool:
    """`> [!NOTE]`: no marker printed, a "Note" title before the body."""
    text = p.text
    if "[!NOTE]" in text:
        return False
    body = text.find("Admonition body text")
    return body >= 0 and bool(re.search(r"\bNote\b", text[max(0, body - 200) : body], re.I))


def table_alignment(p: Printed) -> bool:
    """Left cells share a left edge, right cells a right edge, centred cells a centre."""

    def one(text: str) -> Word | None:
        return next((w for w in p.words if w.text == text), None)

    a, a6, b, b6, r, r7 = (one(t) for t in ("L1", "L2222222", "C1", "C2222222", "R1", "R2222222"))
    if None in (a, a6, b, b6, r, r7):
        return False
    assert a and a6 and b and b6 and r and r7
    near = 1.5  # points
    return (
        abs(a.x_min - a6.x_min) < near
        and abs(r.x_max - r7.x_max) < near
        and abs(r.x_min - r7.x_min) > near
        and abs((b.x_min + b.x_max) / 2 - (b6.x_min + b6.x_max) / 2) < near
    )


def autolink(p: Printed) -> bool:
    return "https://example.org/autolink" in p.uris


def strikethrough(p: Printed) -> bool:
    return "struck text" in p.text and "~~" not in p.text


RULES: dict[str, tuple[str, Callable[[Printed], bool]]] = {
    "Task lists": ("no `[x]`; a ☐/☑ glyph or a checkbox input", task_list),
    "Footnotes": ("note text after the last section; no `[^`", footnote),
    "Definition lists": ("definition not printed as `: …`", definition_list),
    "Heading ids `{#id}`": ("no `{#`; an internal link to it", heading_id),
    "Smart quotes and dashes": ("curly quotes, em dash printed; no `--`", smart_quotes),
    "Code highlighting": ("≥ 3 non-grey fill colours", highlighting),
    "Code line numbers": ("`1 total = …`, `2 print(…)` printed", line_numbers),
    "Inline math `$…$`": ("E = mc printed; no `$E`, no `mc^2`", inline_math),
    "Display math `$$…$$`": ("∫ printed; no `\\int`, `$$`", display_math),
    "No literal `$`": ("no `$` anywhere", no_dollars),
    "Front matter hidden": ("no `title:`, `author:`, `toc:` printed", front_matter_hidden),
    "Front matter title/author": (
        "PDF title = title; author printed or PDF author",
        front_matter_title,
    ),
    "Contents (`toc: true`)": ("every heading twice; entries first", toc_listed),
    "`[[toc]]` marker": ("not printed as text", toc_marker),
    "Page break `\\pagebreak`": ("no marker; next heading tops a page", page_break),
    "Admonitions `> [!NOTE]`": ("no `[!NOTE]`; a Note title", admonition),
    "Table alignment": ("left/centre/right edges line up", table_alignment),
    "Autolinks": ("a URI link to the bare URL", autolink),
    "Strikethrough": ("no `~~`", strikethrough),
}


# -- reading a PDF ----------------------------------------------------------------


def read_pdf(pdf: Path, html_text: str = "") -> Printed:
    import pikepdf

    layout = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pages = layout.split("\f")
    if pages and not pages[-1].strip():
        pages.pop()
    bbox = subprocess.run(
        ["pdftotext", "-bbox", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    words: list[Word] = []
    for number, page in enumerate(bbox.split("<page ")[1:]):
        for m in re.finditer(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', page
        ):
            words.append(
                Word(html.unescape(m.group(3)), number, float(m.group(1)), float(m.group(2)))
            )
    printed = Printed(pages=pages, words=words, html=html_text)
    with pikepdf.open(pdf) as doc:
        printed.title = str(doc.docinfo.get("/Title", ""))
        printed.author = str(doc.docinfo.get("/Author", ""))
        for page in doc.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) in ("rg", "sc", "scn") and len(operands) == 3:
                    try:
                        printed.colours.add(tuple(round(float(x), 2) for x in operands))  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        continue
            for annot in page.get("/Annots", []):
                action = annot.get("/A")
                if action is not None and "/URI" in action:
                    printed.uris.append(str(action["/URI"]))
                elif "/Dest" in annot:
                    printed.internal_links.append(str(annot["/Dest"]))
                elif action is not None and "/D" in action:
                    printed.internal_links.append(str(action["/D"]))
    return printed


# -- printing it three ways -------------------------------------------------------


@dataclass
class Column:
    tool: str
    commands: list[str]
    printed: Printed | None = None
    seconds: float = 0.0
    reason: str = ""  # why it did not run
    pdf: Path | None = None


def _run(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{Path(command[0]).name} exited {done.returncode}: {' '.join(tail)}")


def _shown(command: list[str]) -> str:
    """The command as typed in a shell at the checkout's root."""
    words = [arg.replace(f"{ROOT}/", "") for arg in command]
    return " ".join(w if re.fullmatch(r"[\w./:=+,@-]+", w) else f"'{w}'" for w in words)


def chromium_path() -> str | None:
    from pdfprompt.render import find_chromium

    return find_chromium(None)


def run_pdfprompt(source: Path, out: Path) -> Column:
    pdf, page = out / "pdfprompt.pdf", out / "pdfprompt.html"
    commands = [
        [PDFPROMPT, "render", str(source), "-o", str(pdf)],
        [PDFPROMPT, "render", str(source), "--emit", "html", "-o", str(page)],
    ]
    return _column("pdfprompt", commands, pdf, page)


def run_pandoc(source: Path, out: Path) -> Column:
    page, pdf = out / "pandoc.html", out / "pandoc.pdf"
    commands = [
        ["pandoc", "-s", "--toc", "--mathml", "-f", PANDOC_FROM, str(source), "-o", str(page)],
        [PDFPROMPT, "render", str(page), "--type", "html", "-o", str(pdf)],
    ]
    if shutil.which("pandoc") is None:
        return Column(
            "pandoc", [_shown(c) for c in commands], reason="no `pandoc` (scripts/setup.sh bench)"
        )
    return _column("pandoc", commands, pdf, page)


def run_md_to_pdf(source: Path, out: Path) -> Column:
    work = out / "md-to-pdf"
    work.mkdir(exist_ok=True)
    copy = work / "features.md"
    shutil.copyfile(source, copy)
    chromium = chromium_path() or "chromium"
    launch = json.dumps({"executablePath": chromium, "args": ["--no-sandbox"]})
    commands = [
        [str(MD_TO_PDF), str(copy), "--launch-options", launch],
        [str(MD_TO_PDF), str(copy), "--as-html", "--launch-options", launch],
    ]
    if not MD_TO_PDF.exists():
        return Column(
            "md-to-pdf",
            [_shown(c) for c in commands],
            reason=f"{MD_TO_PDF} missing (scripts/setup.sh bench)",
        )
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    return _column("md-to-pdf", commands, work / "features.pdf", work / "features.html", env)


def _column(
    tool: str, commands: list[list[str]], pdf: Path, page: Path, env: dict[str, str] | None = None
) -> Column:
    column = Column(tool, [_shown(c) for c in commands], pdf=pdf)
    started = time.perf_counter()
    try:
        _run(commands[0], env)
        column.seconds = time.perf_counter() - started
        for command in commands[1:]:
            _run(command, env)
        column.printed = read_pdf(pdf, page.read_text("utf-8") if page.exists() else "")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        column.reason = str(exc)
    return column


RUNNERS = {"pdfprompt": run_pdfprompt, "pandoc": run_pandoc, "md-to-pdf": run_md_to_pdf}


# -- the table --------------------------------------------------------------------


def judge(printed: Printed) -> dict[str, bool]:
    return {name: rule(printed) for name, (_, rule) in RULES.items()}


def table(columns: list[Column]) -> str:
    head = "| Feature | Rule | " + " | ".join(c.tool for c in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    verdicts = [judge(c.printed) if c.printed else {} for c in columns]
    for name, (words, _) in RULES.items():
        cells = [("✓" if v[name] else "✗") if v else "n/a" for v in verdicts]
        lines.append(f"| {name} | {words} | " + " | ".join(cells) + " |")
    totals = [f"{sum(v.values())}/{len(RULES)}" if v else "not run" for v in verdicts]
    lines.append("| **Passed** | | " + " | ".join(f"**{t}**" for t in totals) + " |")
    return "\n".join(lines)


def environment() -> str:
    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError:
            return "missing"
        return (
            (done.stdout or done.stderr).strip().splitlines()[0]
            if done.returncode == 0
            else "missing"
        )

    from importlib.metadata import version as package_version

    chromium = chromium_path() or "chromium"
    return (
        f"- pdfprompt {package_version('pdfprompt')}, Python {platform.python_version()}\n"
        f"- {version(['pandoc', '--version'])}\n"
        f"- md-to-pdf {version([str(MD_TO_PDF), '--version']) if MD_TO_PDF.exists() else '-'}\n"
        f"- {version([chromium, '--version'])} ({chromium})\n"
        f"- {version(['pdftotext', '-v'])}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input",
        type=Path,
        help=f"the feature document (default {FEATURES.relative_to(ROOT)})",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "markdown-compare")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument(
        "--png", action="store_true", help="also write each PDF's pages as PNGs to look at"
    )
    args = parser.parse_args(argv)
    source = (args.input or FEATURES).resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools: {', '.join(sorted(unknown))} (known: {', '.join(TOOLS)})")
    columns = [RUNNERS[tool](source, out) for tool in tools]
    if args.png:
        for column in columns:
            if column.printed is not None:
                subprocess.run(
                    ["pdftoppm", "-r", "60", "-png", str(column.pdf), str(out / column.tool)],
                    check=True,
                )
    print(f"# Markdown features: {' vs '.join(tools)}\n")
    shown = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
    kept = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"Feature document: `{shown}`; PDFs and HTML in `{kept}`.\n")
    print(environment() + "\n")
    print(table(columns) + "\n")
    print("✓ the rule held on the printed PDF, ✗ it did not, n/a: the tool did not run.\n")
    for column in columns:
        took = f" (first command {column.seconds:.1f} s, noisy)" if column.printed else ""
        print(f"**{column.tool}**{took}:\n")
        for command in column.commands:
            print(f"    {command}")
        if column.reason:
            print(f"\n  not run: {column.reason}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
