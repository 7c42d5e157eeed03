"""`pdfprompt db upgrade` started by several processes at the same moment on one PostgreSQL
database (a migration job per deployment, or one per node): they run one after the other
under an advisory lock, every one exits 0 and the schema ends at the newest revision once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

from pdfprompt.db import head_revision
from pdfprompt.db.migrate import MIGRATION_LOCK
from tests.support.processes import PDFPROMPT, service_env
from tests.support.waiting import until

UPGRADES = 3


async def test_upgrades_started_together_run_one_after_the_other(
    empty_pg_url: str, tmp_path: Path
) -> None:
    env = service_env(tmp_path / "data", empty_pg_url)
    conn = await asyncpg.connect(empty_pg_url, timeout=10)
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"upgrade{i}.log" for i in range(UPGRADES)]
    try:
        # The test holds the lock first, so that every upgrade meets it at once: all of them
        # are waiting on one database at the same moment when it is let go.
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        for log in logs:
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [PDFPROMPT, "db", "upgrade"], env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        await until(
            lambda: all("waiting for it to finish" in log.read_text() for log in logs),
            60,
            "every upgrade waiting on the lock",
        )
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        await until(lambda: all(p.poll() is not None for p in procs), 120, "every upgrade done")
        outputs = [log.read_text() for log in logs]
        assert [p.returncode for p in procs] == [0] * UPGRADES, outputs
        assert all("database is up to date" in out for out in outputs)
        # One of them migrated (it ran every revision); the others found nothing to do.
        migrated = [out for out in outputs if "Running upgrade 0014 -> " in out]
        assert len(migrated) == 1, outputs
        versions = await conn.fetch("SELECT version_num FROM alembic_version")
        assert [v["version_num"] for v in versions] == [head_revision()]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        await conn.close()
