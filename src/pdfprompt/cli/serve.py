"""`pdfprompt serve` (API and worker in one process) and `pdfprompt api` (the API alone)."""

from __future__ import annotations

import argparse
import contextlib
import logging
from types import FrameType

from pdfprompt.cli.common import SubParsers
from pdfprompt.cli.logs import uvicorn_log_config
from pdfprompt.db import shown_url
from pdfprompt.settings import Settings


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    for name, help_ in (
        ("serve", "API and worker in one process (the embedded default)"),
        ("api", "the HTTP API alone"),
    ):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--host", default=None)
        sp.add_argument("--port", type=int, default=None)
        sp.set_defaults(run=_run)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    with contextlib.suppress(KeyboardInterrupt):
        serve(settings, host, port, with_worker=args.command == "serve")


def banner(settings: Settings, host: str, port: int, role: str) -> None:
    if settings.log_format == "json":  # every line of the output is a JSON object: a log line
        logging.getLogger("pdfprompt").info(
            "pdfprompt %s listening on http://%s:%d (database %s, storage %s)",
            role,
            host,
            port,
            shown_url(settings.effective_database_url),
            settings.effective_storage_url,
        )
        return
    print(
        f"pdfprompt {role} listening on http://{host}:{port}\n"
        f"  in a browser: open http://{host}:{port}/ and sign up\n"
        f"  database: {shown_url(settings.effective_database_url)}\n"
        f"  storage:  {settings.effective_storage_url}\n"
        "  get an API key: pdfprompt users create you@example.com\n"
        "  then: curl -H 'Authorization: Bearer <key>' -H 'Content-Type: application/json' \\\n"
        f'        -d \'{{"type":"markdown","input":"# Hello"}}\' http://{host}:{port}/v1/jobs',
        flush=True,
    )


def serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    # The web framework loads only for the commands that serve it.
    import uvicorn

    from pdfprompt.api import create_app, redact_access_log
    from pdfprompt.web import install_web
    from pdfprompt.wiring import exit_at_second_signal, signing_from_settings

    settings = settings.model_copy(update={"host": host, "port": port})  # for links it gives
    signing_from_settings(settings)  # a bad certificate stops here, said in one line
    app = create_app(settings, with_worker=with_worker)
    install_web(app)  # the pages, beside the API on the same services
    banner(settings, host, port, "serve" if with_worker else "api")
    # Forwarded headers are believed only from the proxies the operator names: anyone else
    # could choose the address their requests are counted under.
    proxies = settings.trusted_proxy_list
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings.log_level, settings.log_format),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        server_header=False,
    )
    redact_access_log()  # after uvicorn has configured its loggers

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The first signal stops the server and lets running jobs finish within the
            # grace; uvicorn takes a second SIGTERM as the first again.
            if self.should_exit:
                exit_at_second_signal()
            super().handle_exit(sig, frame)

    Server(config).run()
