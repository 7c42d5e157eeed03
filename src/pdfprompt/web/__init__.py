"""The browser app: server-rendered pages (Jinja2) over the services the composition root
built, with their sessions, CSRF tokens and security headers. It is added to the API's app
by the command that serves it (`install_web`); `api/` and `web/` do not import each other."""

from pdfprompt.web.app import install_web

__all__ = ["install_web"]
