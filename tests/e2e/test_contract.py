"""The OpenAPI document is the contract, and the API keeps it: schemathesis generates
requests for every operation from the document served at /openapi.json (valid and invalid
ones, and chains that follow its links: a submitted job read, cancelled, revised, deleted),
runs every check it has on the answers, and must find no 5xx and no answer that the document
does not describe (status, content type, headers, schema).

Sized for CI (`PDFPROMPT_CONTRACT_EXAMPLES` per operation, 10 by default, a fixed seed):
every operation still goes through every phase (the coverage phase's boundary and wrong
values, about 5,000 of the run's 5,800 cases, do not depend on that number; 30 examples
cost 10-15 % more time for about 1,000 more fuzzed cases). The longer run is a documented
command (README, Development):
`PDFPROMPT_CONTRACT_EXAMPLES=500 PDFPROMPT_CONTRACT_SEED=random scripts/test.sh
tests/e2e/test_contract.py`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import create_key, serving

pytestmark = pytest.mark.one_database("postgresql")

HERE = Path(__file__).parent
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
EXAMPLES = os.environ.get("PDFPROMPT_CONTRACT_EXAMPLES", "10")
SEED = os.environ.get("PDFPROMPT_CONTRACT_SEED", "20261204")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.timeout(1200)  # a few minutes idle; as long as the run's own bound on a busy machine
def test_every_operation_keeps_the_openapi_contract(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    with serving(
        request,
        tmp_path,
        database,
        PDFPROMPT_WORKER_CONCURRENCY="4",
        # Webhooks to loopback are accepted (and delivered nowhere else: contract_hooks.py).
        PDFPROMPT_WEBHOOK_ALLOW_PRIVATE="true",
    ) as (server, env):
        email = "contract@example.com"
        create_key(env, email)
        document = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
        operations = sum(len(ops) for ops in document["paths"].values())
        seed = [] if SEED == "random" else ["--seed", SEED]
        run = subprocess.run(
            [
                SCHEMATHESIS,
                "--config-file",
                str(HERE / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{server.base_url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                EXAMPLES,
                *seed,
                "--workers",
                "1",  # Python 3.11's parser is not safe for hypothesis's threads
                # Over the longest wait the API makes on purpose (a template preview waits
                # 30 s for a worker before its 503), with room for a busy machine.
                "--request-timeout",
                "90",
                "--generation-database",
                "none",
            ],
            env={
                **env,
                "SCHEMATHESIS_HOOKS": str(HERE / "contract_hooks.py"),
                "PDFPROMPT_CONTRACT_EMAIL": email,
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        report = run.stdout + run.stderr
        assert run.returncode == 0, report[-20000:]
        assert f"Selected: {operations}/{operations}" in report, report[-5000:]
        assert f"Tested: {operations}" in report, report[-5000:]
        # Nothing the run sent made the server fail where a client would not see it either.
        assert "Traceback" not in server.log(), server.log()[-20000:]
