"""Plans and quota periods: what each plan allows, and which month a submission counts in."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from pdfprompt.domain.errors import InvalidInputError
from pdfprompt.domain.web import check_host_pattern

MB = 1024 * 1024
GB = 1024 * MB
WARN_AT = 0.8  # share of the monthly PDFs at which a quota warning is sent, once per period


@dataclass(frozen=True, slots=True)
class Plan:
    """What a user's plan allows. `None` means unlimited (the operator's server-wide limits
    still apply)."""

    name: str
    pdfs_per_month: int | None
    max_pages: int | None
    max_prompt_chars: int | None
    max_file_bytes: int | None
    storage_bytes: int | None
    retention_days: int | None
    priority: int
    max_concurrent_jobs: int | None
    rate_limit_per_minute: int | None
    watermark: bool
    # The hosts URL jobs of this plan may load from (host patterns, as `PDFPROMPT_URL_ALLOW`);
    # None: the server's; empty: none (URL jobs off for the plan).
    url_allow: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The plan's fields; `url_allow` only where the plan has its own."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.url_allow is None:
            del values["url_allow"]
        else:
            values["url_allow"] = list(self.url_allow)
        return values


BUILTIN_PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("starter", 3, 10, 2_000, 5 * MB, 50 * MB, 30, 0, 1, 60, True),
        Plan("classic", 50, 50, 8_000, 20 * MB, 1 * GB, 90, 1, 2, 120, False),
        Plan("professional", 5_000, 200, 20_000, 50 * MB, 20 * GB, 365, 2, 5, 600, False),
        Plan("pro_plus", 10_000, 300, 20_000, 50 * MB, 50 * GB, 365, 3, 8, 1_200, False),
        Plan("business", 50_000, 500, 50_000, 100 * MB, 200 * GB, 730, 4, 16, 3_000, False),
        Plan("enterprise", None, None, None, None, None, None, 5, None, None, False),
    )
}

_NUMBERS = {f.name for f in fields(Plan)} - {"name", "watermark", "priority", "url_allow"}


def plan_from_mapping(name: str, values: dict[str, Any], base: Plan | None = None) -> Plan:
    """A plan from a plans file's table: every field given, or those not given taken from
    `base` (a built-in plan of the same name). Numbers may be `"unlimited"`."""
    known = {f.name for f in fields(Plan)} - {"name"}
    unknown = set(values) - known
    if unknown:
        raise InvalidInputError(
            f"plan {name!r}: unknown field(s) {', '.join(sorted(unknown))}", field=name
        )
    merged: dict[str, Any] = base.as_dict() if base is not None else {}
    merged["name"] = name
    for key, value in values.items():
        if key in _NUMBERS:
            if value == "unlimited":
                value = None
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(
                    f'plan {name!r}: {key} must be a whole number >= 0 or "unlimited"',
                    field=f"{name}.{key}",
                )
        elif key == "priority" and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidInputError(f"plan {name!r}: priority must be a whole number")
        elif key == "watermark" and not isinstance(value, bool):
            raise InvalidInputError(f"plan {name!r}: watermark must be true or false")
        elif key == "url_allow":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInputError(
                    f"plan {name!r}: url_allow must be a list of host patterns",
                    field=f"{name}.url_allow",
                )
            value = tuple(check_host_pattern(v, f"{name}.url_allow") for v in value)
        merged[key] = value
    if isinstance(merged.get("url_allow"), list):
        merged["url_allow"] = tuple(merged["url_allow"])
    missing = known - set(merged) - {"url_allow"}
    if missing:
        raise InvalidInputError(
            f"plan {name!r}: missing field(s) {', '.join(sorted(missing))}", field=name
        )
    return Plan(**merged)


def period_of(moment: datetime) -> str:
    """The quota period (a calendar month, UTC) a moment falls in: `YYYY-MM`."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a `YYYY-MM` period, UTC."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def tightest(*limits: int | None) -> int | None:
    """The smallest of the limits that are set; None when none is."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None
