"""From a prompt to a template: what the model is asked, and the checks its answer passes
(a JSON object whose schema is usable, whose sample data fits it and whose body compiles)
before it is kept. An answer that fails them goes to the next model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pdfprompt.domain import PdfPromptError, TemplateEngine, check_template_name
from pdfprompt.generate.template import FILTERS, check_body
from pdfprompt.generate.template_data import check_data, check_schema

# The fake LLM peer (devtools) recognises a template request by this line.
TEMPLATE_REQUEST_MARK = "Answer with one JSON object with the keys name, body, schema, sample_data."

TEMPLATE_SYSTEM_PROMPT = f"""You design reusable document templates for a PDF service.
{TEMPLATE_REQUEST_MARK}
- name: a short title (letters, digits, spaces, '.', '_' or '-'; at most 100 characters).
- body: a Jinja2 template. For the html engine, one complete HTML document (<!DOCTYPE html>,
  <meta charset="utf-8">, a <title>, CSS in one <style> element, no scripts, no external
  URLs); for the markdown engine, Markdown. The data's top-level keys are variables
  (`{{{{ customer.name }}}}`); loop with `{{% for item in items %}}`. Filters available:
  {", ".join(sorted(FILTERS))} (`{{{{ price|money("EUR") }}}}`, `{{{{ day|date("%d %B %Y") }}}}`)
  and Jinja's own. No include, import, extends or macros from other files.
- schema: a JSON Schema (draft 2020-12) of the data, "type": "object", with "required" and
  "properties"; references only inside it ("#/$defs/…").
- sample_data: realistic data that is valid against the schema.
No text outside the JSON object."""

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.S)
MAX_NAME_CHARS = 100


@dataclass(frozen=True, slots=True)
class WrittenTemplate:
    name: str
    body: str
    schema: dict[str, Any]
    sample_data: dict[str, Any]


def template_messages(prompt: str, engine: TemplateEngine) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": TEMPLATE_SYSTEM_PROMPT},
        {"role": "user", "content": f"Engine: {engine.value}\n\n{prompt}"},
    ]


def written_template(answer: str, engine: TemplateEngine) -> WrittenTemplate | None:
    """The template in a model's answer, checked; None when there is none or it fails a
    check (the schema, the sample data against it, the body's syntax, the name)."""
    fenced = _FENCE.search(answer)
    text = (fenced.group(1) if fenced else answer).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    name, body = value.get("name"), value.get("body")
    schema, sample = value.get("schema"), value.get("sample_data")
    if not (isinstance(name, str) and isinstance(body, str) and isinstance(sample, dict)):
        return None
    name = re.sub(r"[^A-Za-z0-9._ -]", "", name).strip()[:MAX_NAME_CHARS].strip() or "Template"
    try:
        check_template_name(name)
        checked = check_schema(schema)
        check_data(checked, sample, "sample_data")
        check_body(body, engine)
    except PdfPromptError:
        return None
    return WrittenTemplate(name, body, checked, sample)


def template_answer(answer: str, engine: TemplateEngine) -> str | None:
    """`written_template` as the text `LlmClient.write` passes on (its JSON), or None."""
    written = written_template(answer, engine)
    if written is None:
        return None
    return json.dumps(
        {
            "name": written.name,
            "body": written.body,
            "schema": written.schema,
            "sample_data": written.sample_data,
        }
    )
