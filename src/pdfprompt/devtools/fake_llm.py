"""An OpenAI-compatible chat-completions server for tests, e2e runs and benchmarks.

    pdfprompt dev fake-llm --port 8790 --latency-ms 200 --stream \
        --chunk-ms 10 --behaviour sk-slow=429:5 --behaviour model:broken=500

It answers `POST /v1/chat/completions` (streamed as server-sent events when the
request asks for `stream`) with a realistic HTML document built from the user's
message. What it does is chosen per API key or per model (`model:<name>`), and
can be changed while it runs with `POST /_control`:

- `answer` (default): a document;
- `429` or `429:<seconds>`: rate limited, with `Retry-After`;
- `401`, `403`, `500`, `503`: that status;
- `hang`: never answers;
- `empty`: a stream with no content;
- `text`: an answer that is not HTML;
- `hostile`: a document full of scripts, handlers, frames and external URLs
  (pointing at `hostile_url` from the control body);
- `chart`: the document with an inline SVG bar chart (`bar_chart`: distinctive colours,
  text labels, a gradient, `<use>` of a bar).

A request whose system message asks for a template (`TEMPLATE_REQUEST_MARK`) is answered
with a template as JSON (`template_for`: an invoice-like design carrying the prompt's
words, its schema and sample data); `hostile` answers it with a template whose body has
scripts and external URLs.

`script` in the control body is a list of what the next calls get, one each, in order,
before the behaviours apply again: `{"answer": TEXT}` (TEXT as the model's whole answer) or
`{"behaviour": B}` (one of the above). A request that asks to correct a printed document
(`REPAIR_REQUEST_MARK`) and is not scripted gets the document it was sent back unchanged.

`GET /_calls` lists the calls made (key, model, outcome), in order.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from pdfprompt.generate import REPAIR_REQUEST_MARK, TEMPLATE_REQUEST_MARK


class FakeLlm:
    def __init__(self, *, latency_ms: int = 0, stream: bool = True, chunk_ms: int = 0) -> None:
        self.latency_s = latency_ms / 1000
        self.chunk_s = chunk_ms / 1000  # between streamed chunks
        self.stream = stream
        self.behaviours: dict[str, str] = {}
        self.hostile_url = "http://127.0.0.1:9/"
        self.calls: list[dict[str, Any]] = []
        self.script: list[dict[str, str]] = []  # what the next calls get, in order

    def behaviour(self, key: str, model: str) -> str:
        """The key's behaviour, else the model's, else `answer`."""
        return self.behaviours.get(key) or self.behaviours.get(f"model:{model}") or "answer"


def _user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _asks_for_template(messages: list[dict[str, Any]]) -> bool:
    return any(
        m.get("role") == "system" and TEMPLATE_REQUEST_MARK in str(m.get("content", ""))
        for m in messages
    )


def template_for(prompt: str, *, hostile_url: str | None = None) -> str:
    """A template as a model answers it: JSON with name, body, schema and sample data. The
    body carries the prompt's first line; with `hostile_url`, scripts and external URLs."""
    words = prompt.strip().splitlines()[-1] if prompt.strip() else "Document"
    markdown = prompt.startswith("Engine: markdown")
    if markdown:
        body = (
            "# {{ title }}\n\nFor {{ customer.name }}\n\n| Item | Price |\n|---|---|\n"
            "{% for item in items %}| {{ item.description }} | {{ item.price|money('EUR') }} |\n"
            "{% endfor %}\nTotal: {{ items|sum(attribute='price')|money('EUR') }}\n"
        )
    else:
        extra = ""
        if hostile_url:
            extra = (
                f"<script>fetch('{hostile_url}script')</script>"
                f"<img src='{hostile_url}img.png' onerror=\"fetch('{hostile_url}x')\">"
            )
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>{{ title }}</title>"
            "<style>td.n { text-align: right }</style></head><body>"
            f"{extra}<h1>{{{{ title }}}}</h1><p>For {{{{ customer.name }}}}</p><table>"
            "{% for item in items %}<tr><td>{{ item.description }}</td>"
            "<td class='n'>{{ item.price|money('EUR') }}</td></tr>{% endfor %}</table>"
            "<p>Total: {{ items|sum(attribute='price')|money('EUR') }}</p></body></html>"
        )
    answer = {
        "name": words[:60] or "Template",
        "body": body,
        "schema": {
            "type": "object",
            "required": ["title", "customer", "items"],
            "properties": {
                "title": {"type": "string"},
                "customer": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                },
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            },
            "$defs": {
                "item": {
                    "type": "object",
                    "required": ["description", "price"],
                    "properties": {
                        "description": {"type": "string"},
                        "price": {"type": "number", "minimum": 0},
                    },
                }
            },
        },
        "sample_data": {
            "title": words[:80],
            "customer": {"name": "Sample Customer"},
            "items": [
                {"description": "First item", "price": 12.5},
                {"description": "Second item", "price": 30},
            ],
        },
    }
    return "```json\n" + json.dumps(answer, indent=1) + "\n```"


def document_for(prompt: str) -> str:
    """A plausible print-ready document that carries the prompt's words."""
    first = prompt.strip().splitlines()[0] if prompt.strip() else "Document"
    title = html.escape(first[:80])
    paragraphs = "".join(
        f"<p>{html.escape(line)}</p>" for line in prompt.strip().splitlines()[1:] if line.strip()
    )
    rows = "".join(
        f"<tr><td>Item {i}</td><td class='num'>{i * 3}</td><td class='num'>{i * 12.5:.2f}</td></tr>"
        for i in range(1, 6)
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>@page {{ margin: 16mm; }} "
        "body { font-family: 'DejaVu Sans', sans-serif; font-size: 10pt; } "
        "h1 { color: #1f4e79; } table { border-collapse: collapse; "
        "width: 100%; } td, th { border-bottom: 1px solid #ccc; padding: 4px; } "
        "tr { break-inside: avoid; } .num { text-align: right; }</style></head><body>"
        f"<h1>{title}</h1><p>{html.escape(prompt.strip())}</p>{paragraphs}"
        "<h2>Summary</h2><table><thead><tr><th>Item</th><th>Qty</th><th>Amount</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>Prepared by the fake model.</p></body></html>"
    )


# The chart's colours and labels: what must survive cleaning and print.
CHART_COLORS = {
    "north": (0xD6, 0x2D, 0x20),
    "south": (0x1F, 0x77, 0xB4),
    "west": (0x2C, 0xA0, 0x2C),
}
CHART_LABELS = ("Northfield", "Southgate", "Westbrook", "Revenue by region")


def bar_chart() -> str:
    """An inline SVG bar chart as a model writes it: viewBox, a gradient in defs, a bar
    reused with `<use>`, text labels, a style sheet and presentation attributes."""
    (r1, g1, b1), (r2, g2, b2), (r3, g3, b3) = CHART_COLORS.values()
    return (
        '<figure><svg viewBox="0 0 400 220" width="400" height="220" role="img" '
        'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        "<title>Revenue by region</title>"
        '<defs><linearGradient id="fade" x1="0" x2="0" y1="0" y2="1">'
        '<stop offset="0" stop-color="#ffffff"/><stop offset="1" stop-color="#eeeeee"/>'
        '</linearGradient><rect id="bar" width="60" height="120"/></defs>'
        "<style>.label { font-size: 12px; fill: #222222; }</style>"
        '<rect width="400" height="220" fill="url(#fade)"/>'
        f'<rect x="40" y="40" width="60" height="140" fill="rgb({r1},{g1},{b1})"/>'
        f'<use href="#bar" x="160" y="60" style="fill: rgb({r2},{g2},{b2})"/>'
        f'<use xlink:href="#bar" x="280" y="60" height="100" fill="rgb({r3},{g3},{b3})"/>'
        '<text class="label" x="70" y="200" text-anchor="middle">Northfield</text>'
        '<text class="label" x="190" y="200" text-anchor="middle">Southgate</text>'
        '<text class="label" x="310" y="200" text-anchor="middle">Westbrook</text>'
        '<text x="200" y="24" text-anchor="middle" font-weight="bold">Revenue by region</text>'
        "</svg><figcaption>Figure 1: revenue by region</figcaption></figure>"
    )


def chart_document(prompt: str) -> str:
    """`document_for` with `bar_chart` after its heading."""
    document = document_for(prompt)
    return document.replace("</h1>", "</h1>" + bar_chart(), 1)


def revised_document(prompt: str) -> str:
    """The document inside the prompt's code fence with the instructions added as a section."""
    previous = prompt.split("```html", 1)[1].split("```", 1)[0].strip()
    instructions = prompt.rsplit("\n\n", 1)[-1].strip()
    section = f"<section><h2>Revision</h2><p>{html.escape(instructions)}</p></section>"
    if "</body>" in previous:
        return previous.replace("</body>", section + "</body>", 1)
    return previous + section


def hostile_document(url: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>Hostile</title>"
        f"<link rel='stylesheet' href='{url}css'><style>@import url('{url}import');"
        f"body {{ background: url('{url}bg.png'); }}</style>"
        f"<script>fetch('{url}script')</script></head>"
        "<body onload=\"document.body.innerHTML='SCRIPTED'\"><h1>Hostile report</h1>"
        f"<p style=\"background-image: url('{url}inline.png')\">visible text</p>"
        f"<img src='{url}img.png' onerror=\"fetch('{url}onerror')\">"
        f"<iframe src='{url}frame'></iframe><object data='{url}object'></object>"
        f"<embed src='{url}embed'><form action='{url}form'><input name='q'></form>"
        f"<a href='javascript:alert(1)'>js link</a><svg><image href='{url}svg.png'/></svg>"
        f"<iframe src='file:///etc/passwd'></iframe><video poster='{url}poster'></video>"
        "</body></html>"
    )


def create_fake_llm_app(fake: FakeLlm) -> FastAPI:
    app = FastAPI(title="pdfprompt fake LLM")

    @app.post("/_control")
    async def control(request: Request) -> dict[str, Any]:
        body = await request.json()
        fake.behaviours.update(body.get("behaviours", {}))
        if body.get("reset"):
            fake.behaviours = dict(body.get("behaviours", {}))
            fake.calls.clear()
            fake.script = []
        if "script" in body:
            fake.script = [
                {str(k): str(v) for k, v in dict(step).items()} for step in body["script"]
            ]
        if "latency_ms" in body:
            fake.latency_s = float(body["latency_ms"]) / 1000
        if "chunk_ms" in body:
            fake.chunk_s = float(body["chunk_ms"]) / 1000
        if "hostile_url" in body:
            fake.hostile_url = str(body["hostile_url"])
        return {"behaviours": fake.behaviours, "latency_ms": fake.latency_s * 1000}

    @app.get("/_calls")
    async def calls() -> list[dict[str, Any]]:
        return fake.calls

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def completions(request: Request) -> Response:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        body = await request.json()
        model = str(body.get("model", ""))
        what = fake.behaviour(key, model)
        scripted = fake.script.pop(0) if fake.script else {}
        what = scripted.get("behaviour", "scripted" if "answer" in scripted else what)
        prompt = _user_text(body.get("messages", []))
        fake.calls.append(
            {"key": key, "model": model, "behaviour": what, "at": time.time(), "prompt": prompt}
        )
        if what == "hang":
            await asyncio.sleep(3600)
        if fake.latency_s:
            await asyncio.sleep(fake.latency_s)
        if what.startswith("429"):
            _, _, wait = what.partition(":")
            headers = {"Retry-After": wait} if wait else {}
            return JSONResponse({"error": {"message": "rate limited"}}, 429, headers=headers)
        if what.isdigit():
            return JSONResponse({"error": {"message": f"fake {what}"}}, int(what))
        if what == "scripted":
            content = scripted["answer"]
        elif what == "empty":
            content = ""
        elif what == "text":
            content = "I cannot help with that."
        elif _asks_for_template(body.get("messages", [])):
            hostile = fake.hostile_url if what == "hostile" else None
            content = template_for(prompt, hostile_url=hostile)
        elif what == "hostile":
            content = hostile_document(fake.hostile_url)
        elif REPAIR_REQUEST_MARK in prompt:  # a repair: the document as it was sent
            content = "```html\n" + prompt.rsplit("```html", 1)[1].split("```", 1)[0].strip()
            content += "\n```"
        elif what == "chart":
            content = "```html\n" + chart_document(prompt) + "\n```"
        elif "```html" in prompt:  # a revision: edit the document it was given
            content = "```html\n" + revised_document(prompt) + "\n```"
        else:
            content = "```html\n" + document_for(prompt) + "\n```"
        if not (body.get("stream") and fake.stream):
            return JSONResponse(
                {
                    "id": "fake",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                }
            )
        return StreamingResponse(
            _chunks(model, content, fake.chunk_s), media_type="text/event-stream"
        )

    return app


async def _chunks(model: str, content: str, pause_s: float) -> AsyncIterator[bytes]:
    size = 64
    for i in range(0, len(content), size):
        event = {
            "id": "fake",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": {"content": content[i : i + size]}}],
        }
        yield f"data: {json.dumps(event)}\n\n".encode()
        await asyncio.sleep(pause_s)
    yield b"data: [DONE]\n\n"
