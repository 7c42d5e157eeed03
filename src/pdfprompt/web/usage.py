"""The usage page: this month's PDFs and the storage held against the plan, PDFs per day
over the last 30 days as a chart drawn on the server (inline SVG, no script), and the usage
history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import Request
from starlette.responses import Response

from pdfprompt.actions import integer_cursor
from pdfprompt.web.kit import page, pages, principal, signed_in, svc_of

router = pages()

CHART_DAYS = 30
HISTORY_PAGE = 25
# The chart's drawing, in SVG user units (it scales to the page's width).
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 480, 220, 32, 26, 12


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    pdfs: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    top: int  # the value of the highest gridline
    total: int
    busiest: Bar | None
    ticks: list[tuple[float, int]]  # (y, value) of each gridline
    labels: list[tuple[float, str]]  # (x, text) under some days


def chart(days: list[tuple[date, int]]) -> Chart:
    """Bars for PDFs per day, scaled to a round top (at least 1)."""
    most = max((n for _, n in days), default=0)
    top = max(1, most)
    if top > 5:
        step = 10 ** (len(str(top)) - 1)
        top = -(-top // step) * step
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(1, len(days))
    bars = []
    for i, (day, n) in enumerate(days):
        h = plot_h * n / top
        bars.append(Bar(day, n, LEFT + i * slot + slot * 0.15, TOP + plot_h - h, slot * 0.7, h))
    ticks = [(TOP + plot_h * (1 - k / 2), round(top * k / 2)) for k in (0, 1, 2)]
    if top == 1:
        ticks = [(TOP + plot_h, 0), (TOP, 1)]
    labels = [(b.x + b.width / 2, b.day.strftime("%d %b")) for b in bars[:: max(1, len(bars) // 5)]]
    busiest = max((b for b in bars if b.pdfs), key=lambda b: b.pdfs, default=None)
    return Chart(bars, top, sum(n for _, n in days), busiest, ticks, labels)


def size(n: int | None) -> str:
    """Bytes for a person: 1.5 MB."""
    if n is None:
        return "no limit"
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def share(used: int, limit: int | None) -> int:
    """Per cent of a limit used, 0 to 100 (0 without a limit)."""
    if not limit:
        return 0
    return min(100, round(100 * used / limit))


@router.get("/usage")
async def usage_page(request: Request) -> Response:
    session = await signed_in(request)
    svc = svc_of(request)
    cursor = integer_cursor(request.query_params.get("cursor"))  # else a 422 page
    usage: dict[str, Any] = await svc.accounts.usage(
        session.user_id, svc.accounts.plan_of(principal(session))
    )
    history, more = await svc.accounts.history(
        session.user_id, period=None, limit=HISTORY_PAGE, cursor=cursor
    )
    days = await svc.accounts.pdfs_per_day(session.user_id, CHART_DAYS)
    return page(
        request,
        "usage.html",
        me=session,
        usage=usage,
        history=history,
        more=more,
        first_page=cursor is None,
        chart=chart(days),
        size=size,
        share=share,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
    )
