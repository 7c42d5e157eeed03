"""The admin area, for people the operator made admins (`pdfprompt users set-admin`):
the users (found by email, their plan changed, disabled or enabled again) and the queue.

To anyone else every page and form of it answers 404, as if it did not exist; a browser
signed in nowhere is sent to sign in first, like everywhere else.

Disabling someone ends their browser sessions at once and for good, and stops their API
keys: at once in this process, in the other processes of a PostgreSQL deployment when they
hear of it, and at the latest when a process's key cache lets the key go
(`PDFPROMPT_SUBSCRIPTION_CACHE_TTL_S`). An admin cannot disable themselves here."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from pdfprompt.accounts import MAX_EMAIL_CHARS, WebSession
from pdfprompt.actions import percent, queue_figures, seconds
from pdfprompt.domain import ConflictError, NotFoundError
from pdfprompt.queue import HourStats
from pdfprompt.web.kit import page, pages, posted, redirect, signed_in, svc_of

router = pages()

CHART_HOURS = 24
DONE = {
    "plan": "is now on plan",
    "disabled": "is disabled: their sessions ended and their keys stopped.",
    "enabled": "is enabled again.",
}


async def admin_in(request: Request) -> WebSession:
    """The signed-in admin; `NotFoundError` (a 404 page) for anyone else."""
    session = await signed_in(request)
    if not session.is_admin:
        raise NotFoundError("no such page")
    return session


def _back(q: str, done: str, user_id: str) -> Response:
    query = urlencode({k: v for k, v in (("q", q), ("done", done), ("who", user_id)) if v})
    return redirect("/admin?" + query)


@router.get("/admin")
async def users_page(request: Request) -> Response:
    session = await admin_in(request)
    svc = svc_of(request)
    q = request.query_params.get("q", "")
    errors: dict[str, str] = {}
    if len(q) > MAX_EMAIL_CHARS:
        errors["q"] = f"Search with at most {MAX_EMAIL_CHARS} characters."
        q = q[:MAX_EMAIL_CHARS]
    found, more = ([], False) if errors else await svc.accounts.search_users(q)
    notice = ""
    done, who = request.query_params.get("done", ""), request.query_params.get("who", "")
    if done in DONE and who:
        try:
            user = await svc.accounts.get_user(who[:64])
        except NotFoundError:
            pass
        else:
            words = f"{DONE[done]} {user.plan}." if done == "plan" else DONE[done]
            notice = f"{user.email} {words}"
    return page(
        request,
        "admin_users.html",
        400 if errors else 200,
        me=session,
        q=q,
        found=found,
        more=more,
        plans=list(svc.accounts.plans),
        errors=errors,
        notice=notice,
    )


@router.post("/admin/users/{user_id}/plan")
async def set_plan(request: Request, user_id: str) -> Response:
    await admin_in(request)
    form = await posted(request)
    await svc_of(request).accounts.set_plan(user_id, form.get("plan", ""))
    return _back(form.get("q", ""), "plan", user_id)


@router.post("/admin/users/{user_id}/disable")
async def disable(request: Request, user_id: str) -> Response:
    return await _let_in(request, user_id, disabled=True)


@router.post("/admin/users/{user_id}/enable")
async def enable(request: Request, user_id: str) -> Response:
    return await _let_in(request, user_id, disabled=False)


async def _let_in(request: Request, user_id: str, *, disabled: bool) -> Response:
    """Disable the user, or enable them again (`NotFoundError` for no such user); an admin
    never disables themselves."""
    session = await admin_in(request)
    form = await posted(request)
    if disabled and user_id == session.user_id:
        raise ConflictError("you cannot disable your own account; another admin can")
    svc = svc_of(request)
    await svc.accounts.get_user(user_id)
    await svc.accounts.set_disabled(user_id, disabled)
    return _back(form.get("q", ""), "disabled" if disabled else "enabled", user_id)


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "ended" or "failed"
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    """An inline SVG bar chart of jobs ended and failed per hour, laid out here so that
    the template only draws (no script, no inline style)."""

    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) of the horizontal lines
    hours: list[tuple[float, str, str]]  # (x, label, text-anchor) under the bars
    left: int
    bottom: float
    summary: str


def chart_of(hours: list[HourStats]) -> Chart:
    width, height, left, right, top, below = 720, 220, 40, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - below
    peak = max((h.finished for h in hours), default=0)
    scale = _nice(peak)
    slot = plot_w / max(1, len(hours))
    bar_w = slot * 0.38
    bottom = top + plot_h
    bars: list[Bar] = []
    labels: list[tuple[float, str, str]] = []
    for i, hour in enumerate(hours):
        x = left + i * slot + slot * 0.1
        when = "in the last hour" if hour.hours_ago == 0 else f"{hour.hours_ago} h ago"
        for j, (kind, value) in enumerate((("ended", hour.finished), ("failed", hour.failed))):
            h = plot_h * value / scale
            bars.append(
                Bar(
                    round(x + j * bar_w, 1),
                    round(bottom - h, 1),
                    round(bar_w, 1),
                    round(h, 1),
                    kind,
                    f"{value} {kind} {when}",
                )
            )
        if hour.hours_ago == 0:
            labels.append((float(left + plot_w), "now", "end"))
        elif hour.hours_ago % 6 == 0:
            labels.append((round(x + bar_w, 1), f"-{hour.hours_ago} h", "middle"))
    ticks = [(round(bottom - plot_h * v / scale, 1), v) for v in (0, scale // 2, scale)]
    ended = sum(h.finished for h in hours)
    failed = sum(h.failed for h in hours)
    busiest = max(hours, key=lambda h: h.finished, default=None)
    summary = f"In the last {len(hours)} hours {ended} jobs ended and {failed} of them failed."
    if busiest is not None and busiest.finished:
        ago = "the last hour" if busiest.hours_ago == 0 else f"{busiest.hours_ago} hours ago"
        summary += f" The busiest hour was {ago}, with {busiest.finished}."
    return Chart(width, height, bars, ticks, labels, left, bottom, summary)


def _nice(peak: int) -> int:
    """The top of the scale: the first of 2, 4, 10, 20, 40, 100, … that is at least `peak`
    (even, so that the middle line is a whole number)."""
    top = 2
    while top < peak:
        digits = len(str(top)) - 1
        for step in (2, 4, 10):
            candidate = step * 10**digits
            if candidate > top:
                top = candidate
                break
    return top


@router.get("/admin/queue")
async def queue_page(request: Request) -> Response:
    session = await admin_in(request)
    svc = svc_of(request)
    figures = await queue_figures(svc)
    hours = await svc.jobs.hourly_stats(CHART_HOURS)
    return page(
        request,
        "admin_queue.html",
        me=session,
        figures=figures,
        hours=list(reversed(hours)),
        chart=chart_of(hours),
        percent=percent,
        seconds=seconds,
    )
