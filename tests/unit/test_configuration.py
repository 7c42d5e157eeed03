"""docs/configuration.md is the settings model written out, and every setting in it is used."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pdfprompt
from pdfprompt.cli.remote import CLIENT_VARIABLES
from pdfprompt.settings import Settings
from pdfprompt.settings.llm import LLM_KEY_VARIABLES
from pdfprompt.settings.reference import COMMAND, configuration_markdown

PACKAGE = Path(pdfprompt.__file__).parent
SETTINGS = PACKAGE / "settings"
REPO = Path(__file__).resolve().parents[2]


def test_the_configuration_doc_is_what_the_settings_say() -> None:
    written = (REPO / "docs" / "configuration.md").read_text("utf-8")
    assert written == configuration_markdown(), (
        f"docs/configuration.md differs from the settings' descriptions; run: {COMMAND}"
    )


def test_the_command_prints_the_doc() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pdfprompt.settings"], capture_output=True, check=True, timeout=60
    )
    assert out.stdout.decode("utf-8") == configuration_markdown()


def _receiver(node: ast.Attribute) -> str:
    value = node.value
    if isinstance(value, ast.Attribute):
        return value.attr.lstrip("_")
    return value.id.lstrip("_") if isinstance(value, ast.Name) else ""


def settings_reads(tree: ast.AST) -> set[str]:
    """The names read off something called `settings` (`settings.x`, `self._settings.x`,
    `svc.settings.x`): how the code is handed its `Settings`."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and _receiver(node) == "settings"
    }


def member_reads(trees: Iterable[ast.AST]) -> dict[str, set[str]]:
    """For each property or method of the settings classes, the `self.<name>` it reads.
    Validators are left out: a field only a validator reads is still unused."""
    reads: dict[str, set[str]] = {}
    for tree in trees:
        for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
            for member in cls.body:
                if not isinstance(member, ast.FunctionDef) or any(
                    "validator" in ast.unparse(d) for d in member.decorator_list
                ):
                    continue
                reads[member.name] = {
                    node.attr
                    for node in ast.walk(member)
                    if isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                }
    return reads


def unread_fields(
    fields: Iterable[str], outside: Iterable[str], inside: Mapping[str, set[str]]
) -> set[str]:
    """The fields neither read from outside the settings nor by a property or method that
    is (directly or through another)."""
    read: set[str] = set()
    todo = list(outside)
    while todo:
        name = todo.pop()
        if name not in read:
            read.add(name)
            todo.extend(inside.get(name, ()))
    return set(fields) - read


def _parse(paths: Iterable[Path]) -> list[ast.AST]:
    return [ast.parse(path.read_text("utf-8"), str(path)) for path in paths]


def test_every_setting_is_read_by_the_code() -> None:
    outside = set[str]().union(
        *(
            settings_reads(tree)
            for tree in _parse(p for p in PACKAGE.rglob("*.py") if SETTINGS not in p.parents)
        )
    )
    inside = member_reads(_parse(SETTINGS.rglob("*.py")))
    unread = unread_fields(Settings.model_fields, outside, inside)
    assert not unread, (
        f"settings nothing in src/pdfprompt reads: {sorted(unread)}. Remove them (and run "
        f"{COMMAND}), or read them through the `Settings` object handed in, by a variable or "
        "attribute named `settings` (`settings.x`, `svc.settings.x`, `self._settings.x`)"
    )


def test_the_scan_finds_a_setting_only_a_validator_reads() -> None:
    settings_module = ast.parse(
        "class S:\n"
        "    used: int\n"
        "    behind_a_property: int\n"
        "    behind_an_unread_property: int\n"
        "    only_validated: int\n"
        "    @property\n"
        "    def shown(self): return self.behind_a_property\n"
        "    @property\n"
        "    def hidden(self): return self.behind_an_unread_property\n"
        "    @field_validator('only_validated')\n"
        "    def _check(self, v): return self.only_validated\n"
    )
    code = ast.parse("def f(svc, settings):\n    return svc.settings.used, settings.shown\n")
    fields = ("used", "behind_a_property", "behind_an_unread_property", "only_validated")
    unread = unread_fields(fields, settings_reads(code), member_reads([settings_module]))
    assert unread == {"behind_an_unread_property", "only_validated"}


# Read by the tests and the benchmarks, not by the service.
TOOL_PREFIXES = ("PDFPROMPT_TEST_", "PDFPROMPT_BENCH_", "PDFPROMPT_CONTRACT_")
VARIABLE = re.compile(r"\b(?:PDFPROMPT|DATABASE|OPENROUTER)_[A-Z0-9_]+\b")


def test_every_variable_the_project_names_is_a_setting() -> None:
    """A renamed or removed setting leaves no mention behind in the docs, messages or
    comments."""
    known = set(LLM_KEY_VARIABLES) | set(CLIENT_VARIABLES)  # the client's, not a server's
    for field in Settings.model_fields.values():
        known.update(getattr(field.validation_alias, "choices", ()))
    texts = [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    for folder in ("src", "tests", "bench", "scripts"):
        texts += [p for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".sh", ".md")]
    unknown = {
        f"{path.relative_to(REPO)}: {name}"
        for path in texts
        for name in VARIABLE.findall(path.read_text("utf-8"))
        if name not in known and not name.startswith(TOOL_PREFIXES)
    }
    assert not unknown, f"not a setting (docs/configuration.md lists them): {sorted(unknown)}"
