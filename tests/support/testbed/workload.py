"""The clients: users submitting jobs through both API hosts with Idempotency-Keys, retrying
connection errors and 5xx with the same key (on the other host too), and a sampler of the
running jobs per user."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.testbed.hosts import APIS, Bed, enter_namespace, fetch

SUBMIT_DEADLINE_S = 240.0  # a client gives up on one submission after this long


@dataclass
class User:
    email: str
    key: str
    user_id: str
    hook_secret: str | None = None


@dataclass
class Submission:
    user: User
    idempotency_key: str
    kind: str
    body: dict[str, Any]
    job_ids: set[str] = field(default_factory=set)  # every id a 2xx answered with
    tries: int = 0
    hosts: set[str] = field(default_factory=set)
    refused: str | None = None  # a 4xx answer (not 429): the input's fault, never retried

    @property
    def accepted(self) -> bool:
        return bool(self.job_ids)


def document(kind: str, n: int, rng: random.Random) -> dict[str, Any]:
    if kind == "prompt":
        return {"type": "prompt", "input": f"A short note about topic {n}"}
    rows = rng.choice((3, 3, 3, 20, 120))  # mostly one page, some longer
    if kind == "markdown":
        body = f"# Report {n}\n\n" + "\n".join(f"- item {i} of {n}" for i in range(rows))
        return {"type": "markdown", "input": body}
    cells = "".join(f"<tr><td>{i}</td><td>row {i} of {n}</td></tr>" for i in range(rows))
    return {"type": "html", "input": f"<h1>Invoice {n}</h1><table>{cells}</table>"}


class Workload:
    def __init__(
        self, bed: Bed, *, users: int = 5, jobs: int = 60, hooks: int = 2, seed: int = 7
    ) -> None:
        self.bed = bed
        self.rng = random.Random(seed)
        self.n_users, self.n_jobs, self.n_hooks = users, jobs, hooks
        self.users: list[User] = []
        self.submissions: list[Submission] = []
        self.running_samples: list[dict[str, int]] = []
        self.sample_errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # --- users and webhooks
    def make_users(self) -> None:
        """New users on the professional plan, each with an API key, made through the
        account store (as `pdfprompt users create` makes them) from the client host."""
        tag = uuid.uuid4().hex[:6]
        emails = [f"user{i}-{tag}@example.com" for i in range(self.n_users)]
        made = self.bed.on_client(lambda: asyncio.run(self._create(emails)))
        for i, (email, user_id, key) in enumerate(made):
            user = User(email, key, user_id)
            if i < self.n_hooks:
                user.hook_secret = self.bed.on_client(self._add_hook, key)
            self.users.append(user)

    async def _create(self, emails: list[str]) -> list[tuple[str, str, str]]:
        from sqlalchemy.ext.asyncio import create_async_engine

        from pdfprompt.accounts import AccountStore

        url = self.bed.database_url.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url)
        try:
            accounts = AccountStore(engine)
            made = []
            for email in emails:
                user = await accounts.create_user(email, "professional")
                made.append((email, user.id, (await accounts.create_key(user.id)).secret))
            return made
        finally:
            await engine.dispose()

    def _add_hook(self, key: str) -> str:
        assert self.bed.receiver is not None
        for attempt in range(60):  # bounded: an API may still be recovering from a fault
            try:
                r = httpx.post(
                    f"{self.bed.api_url(APIS[attempt % 2])}/v1/webhooks",
                    json={"url": self.bed.receiver.url, "events": ["job.succeeded", "job.failed"]},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            if r.status_code < 500:
                break
            time.sleep(0.5)
        r.raise_for_status()
        secret: str = r.json()["secret"]
        return secret

    # --- submissions
    def plan(self) -> None:
        for n in range(self.n_jobs):
            kind = "prompt" if n % 5 == 4 else self.rng.choice(("html", "markdown"))
            user = self.users[n % len(self.users)]
            self.submissions.append(
                Submission(user, f"bed-{uuid.uuid4().hex}", kind, document(kind, n, self.rng))
            )

    def submit_all(self, clients: int = 8, pace_s: float = 0.0) -> None:
        """Every planned submission, `clients` at a time, each retried until a 2xx or a
        4xx answers it (or its deadline passes)."""
        with ThreadPoolExecutor(
            clients, initializer=enter_namespace, initargs=(self.bed.host("client").ns,)
        ) as pool:
            futures = []
            for sub in self.submissions:
                futures.append(pool.submit(self._submit, sub))
                if pace_s:
                    time.sleep(pace_s)
            for f in futures:
                f.result()

    def _submit(self, sub: Submission) -> None:
        hosts = list(APIS)
        host = self.rng.choice(hosts)
        deadline = time.monotonic() + SUBMIT_DEADLINE_S
        delay_s = 0.1
        while time.monotonic() < deadline:
            sub.tries += 1
            sub.hosts.add(host)
            r = self._post(sub, host)
            if r is not None and r.status_code < 300:
                sub.job_ids.add(r.json()["id"])
                # One more time with the same key, on the other host: a retry after a lost
                # answer must find the same job (the checker compares the ids).
                if sub.tries == 1 and self.rng.random() < 0.2:
                    again = self._post(sub, hosts[1 - hosts.index(host)])
                    if again is not None and again.status_code < 300:
                        sub.job_ids.add(again.json()["id"])
                return
            if r is not None and 400 <= r.status_code < 500 and r.status_code != 429:
                sub.refused = f"{r.status_code} {r.text[:200]}"
                return
            host = hosts[1 - hosts.index(host)]  # the other API host next
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 2.0)

    def _post(self, sub: Submission, host: str) -> httpx.Response | None:
        """One try of `sub` on `host`, with its key; None when no answer came."""
        try:
            return httpx.post(
                f"{self.bed.api_url(host)}/v1/jobs",
                json=sub.body,
                headers={
                    "Authorization": f"Bearer {sub.user.key}",
                    "Idempotency-Key": sub.idempotency_key,
                },
                timeout=httpx.Timeout(10, connect=2),
            )
        except httpx.TransportError:
            return None

    # --- the running-jobs sampler
    def start_sampler(self, every_s: float = 0.25) -> threading.Thread:
        def loop() -> None:
            enter_namespace(self.bed.host("client").ns)
            while not self._stop.wait(every_s):
                try:
                    rows = fetch(
                        self.bed.database_url,
                        "select user_id::text as u, count(*) as n from jobs "
                        "where status = 'running' group by user_id",
                        timeout_s=2,
                    )
                except Exception:
                    self.sample_errors += 1
                    continue
                self.running_samples.append({r["u"]: r["n"] for r in rows})

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def stop_sampler(self) -> None:
        self._stop.set()

    # --- draining
    def pending(self) -> int:
        """Jobs of this workload still queued or running (a large number while unknown)."""
        try:
            rows = self.bed.query(
                "select count(*) as n from jobs where user_id::text = any($1::text[]) "
                "and status in ('queued', 'running')",
                [u.user_id for u in self.users],
            )
            return int(rows[0]["n"])
        except Exception:
            return 1 << 30

    def wait_drained(self, timeout_s: float = 300) -> float:
        """Seconds until every accepted job has ended."""
        ids = [i for s in self.submissions for i in s.job_ids]
        started = time.monotonic()
        while True:
            try:
                rows = self.bed.query(
                    "select count(*) as n from jobs where id::text = any($1::text[]) "
                    "and status in ('queued', 'running')",
                    ids,
                )
                if rows[0]["n"] == 0:
                    return time.monotonic() - started
            except Exception:
                pass
            if time.monotonic() - started > timeout_s:
                return -1.0
            time.sleep(0.5)

    def kinds(self) -> Counter[str]:
        return Counter(s.kind for s in self.submissions)
