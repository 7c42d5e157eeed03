"""Schemathesis hooks for the contract run (`SCHEMATHESIS_HOOKS`).

- The API key. The run may revoke the key it was given (it lists the keys and deletes what
  it finds), so whenever an answer is 401 the key is made again, by the operator's CLI on
  the same database (its environment is the run's).
- Webhook addresses. Test traffic goes to loopback only: a generated webhook URL of the
  documented form is swapped, before it is sent, for one of the addresses below (loopback
  in several spellings, which the server allows here, and spellings the rules refuse), so
  that no name is looked up and no event is delivered anywhere but this machine. URLs not
  of that form are sent as generated (they are refused before anything is resolved)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import schemathesis

EMAIL = os.environ.get("PDFPROMPT_CONTRACT_EMAIL", "contract@example.com")
PDFPROMPT = str(Path(sys.executable).with_name("pdfprompt"))


@schemathesis.auth(refresh_interval=24 * 3600)  # made again on a 401 only
class FreshKey:
    def get(self, case: Any, context: Any) -> str:
        made = subprocess.run(
            [PDFPROMPT, "keys", "create", EMAIL],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


URL_FORM = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+")
LOOPBACK_URLS = (
    "http://127.0.0.1:9/hook",
    "https://127.0.0.1:1/a?b=c#d",
    "http://[::1]:9/in",
    "http://localhost:9/x",
    "http://2130706433:9/",
    "http://127.1:9/",
    "http://0x7f000001:9/",
    "http://[::ffff:127.0.0.1]:9/",
    "http://xn--:9/",
    "http://a..b:9/",
    "http://127.0.0.1:0/",
    "http://127.0.0.1:65536/",
    "http://[fe80::1%25eth0]:9/",
    "http://127.0.0.1:9/\r\nX-Injected: 1",
    "http://127.0.0.1:9\\@example.com/",
)


PREVIEW_PATH = "/v1/templates/{template_id}/preview"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    body = case.body
    # A preview names the template's version in its body; the run links a template it has
    # just made to its preview with a version picked at random, which the new template does
    # not have (404, taken for a created resource gone missing). A version in range asks for
    # the one it has; out-of-range versions are left to be refused.
    if case.path == PREVIEW_PATH and isinstance(body, dict):
        version = body.get("version")
        if type(version) is int and 1 <= version <= 1_000_000:
            body["version"] = 1
    if isinstance(body, dict) and isinstance(body.get("url"), str) and URL_FORM.match(body["url"]):
        picked = zlib.crc32(body["url"].encode("utf-8", "surrogatepass")) % len(LOOPBACK_URLS)
        body["url"] = LOOPBACK_URLS[picked]
