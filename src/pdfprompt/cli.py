"""The `pdfprompt` command: runs the service roles and administers it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pdfprompt.accounts import ALL_SCOPES, AccountStore, check_default_plan, load_plans
from pdfprompt.db import create_engine, open_database, upgrade
from pdfprompt.domain import JobType, NotFoundError, PdfPromptError, RenderOptions
from pdfprompt.settings import Settings

# The service roles (web framework, browser, LLM client) are imported by the commands
# that run them, so that administration commands start in about half the time.

log = logging.getLogger("pdfprompt")


def _setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces each of its autogenerate plugins at INFO on every schema check.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _banner(settings: Settings, host: str, port: int, role: str) -> None:
    db = settings.effective_database_url
    where = db if db.startswith("sqlite") else db.split("@")[-1]
    print(
        f"pdfprompt {role} listening on http://{host}:{port}\n"
        f"  database: {where}\n"
        f"  storage:  {settings.effective_storage_url}\n"
        "  get an API key: pdfprompt users create you@example.com\n"
        "  then: curl -H 'Authorization: Bearer <key>' -H 'Content-Type: application/json' \\\n"
        f'        -d \'{{"type":"markdown","input":"# Hello"}}\' http://{host}:{port}/v1/jobs',
        flush=True,
    )


def _serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    import uvicorn

    from pdfprompt.api import create_app, redact_access_log

    settings = settings.model_copy(update={"host": host, "port": port})  # for links it gives
    app = create_app(settings, with_worker=with_worker)
    _banner(settings, host, port, "serve" if with_worker else "api")
    # Forwarded headers are believed only from the proxies the operator names: anyone else
    # could choose the address their requests are counted under.
    proxies = settings.trusted_proxy_list
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
    )
    redact_access_log()  # after uvicorn has configured its loggers
    uvicorn.Server(config).run()


async def _run_worker(settings: Settings, *, burst: bool) -> None:
    from prometheus_client import start_http_server

    from pdfprompt.api import build_worker, delivering_webhooks, prepare_database, wakeup_for
    from pdfprompt.generate import llm_client_from_settings
    from pdfprompt.render import renderer_from_settings

    svc = await prepare_database(settings)
    llm = llm_client_from_settings(settings)
    try:
        async with (
            renderer_from_settings(settings) as renderer,
            wakeup_for(settings) as wakeup,
            delivering_webhooks(svc) as dispatcher,
        ):
            worker = build_worker(svc, renderer, wakeup, llm)
            if llm is not None:
                svc.metrics.registry.register(llm.collector())
            if settings.worker_metrics_port is not None:
                start_http_server(
                    settings.worker_metrics_port, addr=settings.host, registry=svc.metrics.registry
                )
                log.info(
                    "worker metrics on http://%s:%d/metrics",
                    settings.host,
                    settings.worker_metrics_port,
                )
            loop = asyncio.get_running_loop()
            signals = {"count": 0}

            def _on_signal() -> None:
                signals["count"] += 1
                if signals["count"] == 1:
                    log.info("stopping: finishing running jobs (signal again to exit at once)")
                    worker.stop()
                    dispatcher.stop()
                else:
                    log.warning(
                        "second signal: exiting now; unfinished jobs return on lease expiry"
                    )
                    raise SystemExit(1)

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, _on_signal)
            log.info(
                "worker %s running: %d job slots, %d render slots",
                worker.worker_id,
                settings.worker_concurrency,
                settings.max_pdf_concurrency,
            )
            await worker.run(burst=burst)
    finally:
        if llm is not None:
            await llm.aclose()
        await svc.engine.dispose()


async def _render(settings: Settings, args: argparse.Namespace) -> None:
    from pdfprompt.api.schemas import OptionsIn
    from pdfprompt.pipeline import render_input
    from pdfprompt.render import renderer_from_settings

    source = Path(args.input)
    text = sys.stdin.read() if args.input == "-" else source.read_text("utf-8")
    job_type = JobType(args.type or _guess_type(source))
    raw_options = json.loads(args.options) if args.options else {}
    options = RenderOptions.from_dict(OptionsIn.model_validate(raw_options).stored())
    out = Path(args.output) if args.output else source.with_suffix(".pdf")
    async with renderer_from_settings(settings) as renderer:
        rendered = await render_input(renderer, job_type, text, options)
    out.write_bytes(rendered.data)
    print(f"wrote {out} ({rendered.pages} pages, {len(rendered.data)} bytes)")


def _guess_type(path: Path) -> str:
    return "html" if path.suffix.lower() in (".html", ".htm") else "markdown"


async def _with_accounts(
    settings: Settings, action: Callable[[AccountStore], Awaitable[None]]
) -> None:
    plans = load_plans(settings.plans_file)
    check_default_plan(plans, settings.default_plan)
    engine = await open_database(settings)
    accounts = AccountStore(
        engine,
        cache_ttl_s=settings.subscription_cache_ttl_s,
        plans=plans,
        default_plan=settings.default_plan,
    )
    try:
        await action(accounts)
    finally:
        await accounts.aclose()
        await engine.dispose()


async def _db_upgrade(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("database is up to date")


async def _stats(settings: Settings) -> None:
    from pdfprompt.api import prepare_database

    svc = await prepare_database(settings)
    try:
        depth = await svc.jobs.queue_depth()
        windows = [await svc.jobs.window_stats(s) for s in (3600.0, 86400.0)]
        hooks = await svc.webhooks.backlog(3600.0)
    finally:
        await svc.engine.dispose()
    print(f"queue depth   queued {depth.get('queued', 0)}   running {depth.get('running', 0)}")
    print(
        f"{'window':8} {'ended':>7} {'ok':>7} {'failed':>7} {'canceled':>8} "
        f"{'per hour':>9} {'errors':>7} {'p50':>8} {'p95':>8}"
    )
    for name, w in zip(("1 hour", "1 day"), windows, strict=True):
        print(
            f"{name:8} {w.finished:>7} {w.succeeded:>7} {w.failed:>7} {w.canceled:>8} "
            f"{w.per_hour:>9.1f} {_pct(w.error_rate):>7} {_secs(w.p50_s):>8} {_secs(w.p95_s):>8}"
        )
    print(
        f"webhooks      pending {hooks['pending']} (due now {hooks['due']})   last hour: "
        f"delivered {hooks['succeeded']}, failed for good {hooks['failed']}"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdfprompt", description="Prompts, Markdown or HTML to PDF.")
    sub = p.add_subparsers(dest="command", required=True)

    for name, help_ in (
        ("serve", "API and worker in one process (the embedded default)"),
        ("api", "the HTTP API alone"),
    ):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--host", default=None)
        sp.add_argument("--port", type=int, default=None)

    w = sub.add_parser("worker", help="claim and run jobs")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")

    r = sub.add_parser("render", help="render one document, no server")
    r.add_argument("input", help="a .md or .html file, or - for standard input")
    r.add_argument("-o", "--output", help="where to write the PDF (default: INPUT.pdf)")
    r.add_argument("--type", choices=[t.value for t in JobType])
    r.add_argument("--options", help='render options as JSON, e.g. \'{"format": "Letter"}\'')

    db = sub.add_parser("db", help="database administration")
    dbs = db.add_subparsers(dest="db_command", required=True)
    dbs.add_parser("upgrade", help="apply migrations")

    users = sub.add_parser("users", help="user administration")
    us = users.add_subparsers(dest="users_command", required=True)
    uc = us.add_parser("create", help="create a user and print an API key as the last line")
    uc.add_argument("email")
    uc.add_argument("--plan", default=None)
    us.add_parser("list", help="list users")
    sp_ = us.add_parser("set-plan", help="change a user's plan")
    sp_.add_argument("email")
    sp_.add_argument("plan")
    dis = us.add_parser("disable", help="disable a user; their keys stop working")
    dis.add_argument("email")
    ena = us.add_parser("enable", help="enable a disabled user again")
    ena.add_argument("email")

    keys = sub.add_parser("keys", help="API key administration")
    ks = keys.add_subparsers(dest="keys_command", required=True)
    kc = ks.add_parser("create", help="create another key for a user; prints it as the last line")
    kc.add_argument("email")
    kc.add_argument("--name", default="")
    kc.add_argument(
        "--scopes",
        default=",".join(ALL_SCOPES),
        help=f"comma-separated, of {', '.join(ALL_SCOPES)} (default: all)",
    )
    kc.add_argument("--expires-in-days", type=float, default=None)
    kl = ks.add_parser("list", help="list a user's keys")
    kl.add_argument("email")
    kr = ks.add_parser("revoke", help="revoke a key (by id or by its pp_ prefix)")
    kr.add_argument("email")
    kr.add_argument("key")

    plans = sub.add_parser("plans", help="the plans in force")
    ps = plans.add_subparsers(dest="plans_command", required=True)
    ps.add_parser("list", help="list plans and their limits")

    sub.add_parser("stats", help="queue depth, throughput, error rate and latency")

    dev = sub.add_parser("dev", help="development and test tools")
    ds = dev.add_subparsers(dest="dev_command", required=True)
    fl = ds.add_parser("fake-llm", help="an OpenAI-compatible server for tests and benchmarks")
    fl.add_argument("--host", default="127.0.0.1")
    fl.add_argument("--port", type=int, default=8790)
    fl.add_argument("--latency-ms", type=int, default=0, help="wait before each answer")
    fl.add_argument("--stream", action="store_true", help="stream answers when asked to")
    fl.add_argument("--chunk-ms", type=int, default=0, help="wait between streamed chunks")
    fl.add_argument(
        "--behaviour",
        action="append",
        default=[],
        metavar="KEY=WHAT",
        help="per key or model:NAME: answer, 429[:seconds], 401, 403, 500, hang, empty, text, "
        "hostile (repeatable; POST /_control changes them while running)",
    )
    return p


def _fake_llm(args: argparse.Namespace) -> None:
    import uvicorn

    from pdfprompt.devtools.fake_llm import FakeLlm, create_fake_llm_app

    fake = FakeLlm(latency_ms=args.latency_ms, stream=args.stream, chunk_ms=args.chunk_ms)
    for item in args.behaviour:
        who, _, what = item.partition("=")
        fake.behaviours[who] = what or "answer"
    print(f"fake LLM on http://{args.host}:{args.port}/v1", flush=True)
    config = uvicorn.Config(
        create_fake_llm_app(fake), host=args.host, port=args.port, log_level="warning"
    )
    uvicorn.Server(config).run()


def _account_action(args: argparse.Namespace) -> Callable[[AccountStore], Awaitable[None]]:
    async def create_user(accounts: AccountStore) -> None:
        user = await accounts.create_user(args.email, args.plan or accounts.default_plan)
        key = await accounts.create_key(user.id, name="default")
        print(f"created user {user.email} ({user.id}) on plan {user.plan}")
        print("API key (shown once):")
        print(key.secret)

    async def list_users(accounts: AccountStore) -> None:
        for user in await accounts.list_users():
            state = "disabled" if user.disabled else "active"
            print(f"{user.id}  {user.email}  {user.plan}  {state}")

    async def set_plan(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        await accounts.set_plan(user.id, args.plan)
        print(f"{user.email} is now on plan {args.plan}")

    async def disable(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        await accounts.set_disabled(user.id, True)
        print(f"{user.email} is disabled")

    async def enable(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        await accounts.set_disabled(user.id, False)
        print(f"{user.email} is enabled")

    async def create_key(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        days = args.expires_in_days
        key = await accounts.create_key(
            user.id,
            name=args.name,
            scopes=scopes,
            expires_in_s=None if days is None else days * 86400,
        )
        print(f"API key for {user.email} (shown once):")
        print(key.secret)

    async def list_keys(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        for k in await accounts.list_keys(user.id):
            state = "revoked" if k["revoked_at"] else "active"
            scopes = ",".join(k["scopes"])
            print(f"{k['id']}  pp_{k['prefix']}_…  {k['name'] or '-'}  {scopes}  {state}")

    async def revoke_key(accounts: AccountStore) -> None:
        user = await accounts.find_user(args.email)
        wanted = args.key.removeprefix("pp_").split("_")[0]
        matches = [k for k in await accounts.list_keys(user.id) if wanted in (k["id"], k["prefix"])]
        if not matches:
            raise NotFoundError(f"{user.email} has no key {args.key}")
        await accounts.revoke_key(matches[0]["id"], user.id)
        print(f"key {matches[0]['id']} of {user.email} is revoked")

    if args.command == "keys":
        return {"create": create_key, "list": list_keys, "revoke": revoke_key}[args.keys_command]
    return {
        "create": create_user,
        "list": list_users,
        "set-plan": set_plan,
        "disable": disable,
        "enable": enable,
    }[args.users_command]


def _plans_list(settings: Settings) -> None:
    def shown(value: object) -> str:
        return "unlimited" if value is None else str(value)

    plans = load_plans(settings.plans_file)
    columns = [f for f in next(iter(plans.values())).as_dict() if f != "name"]
    rows = [["plan", *columns]]
    for plan in plans.values():
        values = plan.as_dict()
        default = " (default)" if plan.name == settings.default_plan else ""
        rows.append([plan.name + default, *(shown(values[c]) for c in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"pdfprompt: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    _setup_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _dispatch(args, settings)
    except PdfPromptError as exc:
        print(f"pdfprompt: {exc.message}", file=sys.stderr)
        return 1
    except (ValidationError, json.JSONDecodeError, FileNotFoundError) as exc:
        print(f"pdfprompt: {exc}", file=sys.stderr)
        return 2


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived coroutine on uvloop where it is installed (as uvicorn does for
    `serve` and `api`), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    runners: dict[str, Callable[[], Any]] = {
        "worker": lambda: _run_loop(_run_worker(settings, burst=args.burst)),
        "render": lambda: asyncio.run(_render(settings, args)),
        "db": lambda: asyncio.run(_db_upgrade(settings)),
        "users": lambda: asyncio.run(_with_accounts(settings, _account_action(args))),
        "keys": lambda: asyncio.run(_with_accounts(settings, _account_action(args))),
        "stats": lambda: asyncio.run(_stats(settings)),
        "plans": lambda: _plans_list(settings),
        "dev": lambda: _fake_llm(args),
    }
    if command in ("serve", "api"):
        host = args.host or settings.host
        port = settings.port if args.port is None else args.port
        with contextlib.suppress(KeyboardInterrupt):
            _serve(settings, host, port, with_worker=command == "serve")
        return 0
    runners[command]()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
