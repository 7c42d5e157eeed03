"""Schemathesis hooks for the contract run (`SCHEMATHESIS_HOOKS`): the API key.

The run may revoke the key it was given (it lists the keys and deletes what it finds), so
whenever an answer is 401 the key is made again, by the operator's CLI on the same database
(its environment is the run's)."""

from __future__ import annotations

import os
import subprocess
import sys
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
