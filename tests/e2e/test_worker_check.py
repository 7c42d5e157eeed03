"""`pdfprompt worker --check`, the liveness check of a worker (which has no HTTP API): it
reads the worker's metrics listener and exits 0 only while the claim loop turns."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.databases import free_port
from tests.support.processes import Process, cli, service_env
from tests.support.waiting import wait_until


def test_the_check_follows_the_worker(tmp_path: Path) -> None:
    env = service_env(tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    unset = cli(env, "worker", "--check", check=False)
    assert unset.returncode == 1 and "PDFPROMPT_WORKER_METRICS_PORT" in unset.stderr

    port = free_port()
    env["PDFPROMPT_WORKER_METRICS_PORT"] = str(port)
    env["PDFPROMPT_HOST"] = "127.0.0.1"
    nobody = cli(env, "worker", "--check", check=False)
    assert nobody.returncode == 1 and "no worker answers" in nobody.stderr

    worker = Process(["worker"], env, tmp_path / "worker.log").start()
    try:
        alive = wait_until(
            lambda: (r := cli(env, "worker", "--check", check=False)).returncode == 0 and r,
            60,
            "the check passing",
            every_s=0.2,
        )
        assert "worker alive" in alive.stdout
        # A loop that has not turned for longer than allowed fails the check.
        stale = cli(env, "worker", "--check", "--max-age-s", "0", check=False)
        assert stale.returncode == 1 and "has not claimed for" in stale.stderr
        # A frozen process answers nothing: the check fails (within its 5 s timeout).
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGSTOP)
        try:
            frozen = cli(env, "worker", "--check", check=False)
        finally:
            worker.proc.send_signal(signal.SIGCONT)
        assert frozen.returncode == 1, frozen.stdout
    finally:
        assert worker.stop() == 0, worker.log()
