"""Templates: a Jinja2 body filled with a user's data in a sandbox.

The environment is Jinja's `ImmutableSandboxedEnvironment` (no attribute starting with `_`,
no internals such as `__class__`, `mro` or `__globals__`, no mutation of lists and dicts),
with a loader that loads nothing (`include`, `import` and `extends` fail), without the
globals that make text or state without bound (`lipsum`, `namespace`), and with:

- autoescape for `html` templates; `markdown` templates escape `& < > "` in every value they
  print, so data never becomes markup, and the result goes through the Markdown typesetter;
- limits an operation cannot pass: `range` at most 100,000 numbers, `*`, `**`, `%`, `+` and
  every filter and call checked so no value grows past the output limit, and the output
  itself stopped past it;
- a deadline checked at every attribute, item, call, operator, filter and loop step (a
  guarded `range`); `TemplateFiller` (template_process.py) also runs each fill in a child
  process that is killed when the time is up, so nothing the template does escapes it.

Data values are passed in as values: they are never parsed as template source.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import math
import re
import time
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pdfprompt.domain import (
    InvalidInputError,
    TemplateEngine,
    TemplateRenderError,
    TemplateTimeoutError,
)
from pdfprompt.generate.markdown import markdown_document

MAX_RANGE = 100_000  # numbers one `range` may give
MAX_INT_ARGUMENT = 100_000  # a filter's or method's numeric argument (a width, a count)
MAX_DIGITS = 64  # digits of a number an operator may make
_TEMPLATE_NAME = "<template>"


class _LoadsNothing(jinja2.BaseLoader):
    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        raise jinja2.TemplateNotFound(template, "a template may not include other templates")


_MARKDOWN_ESCAPES = {
    **{c: "\\" + c for c in "!#$'()*+,-./:;=?@[\\]^_`{|}~"},
    **{c: html.escape(c, quote=True) for c in '&<>"'},
}
_MARKDOWN_TABLE = str.maketrans(_MARKDOWN_ESCAPES)


def _markdown_safe(value: Any) -> str:
    """A value printed into a Markdown template: `& < > "` become HTML entities and every
    other ASCII punctuation is backslash-escaped, so a value is shown as it is and never
    becomes markup, a link or Markdown syntax."""
    if value is None:
        return ""
    return str(value).translate(_MARKDOWN_TABLE)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with a deadline and size limits on every hook Jinja gives."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, *, markdown: bool, max_chars: int) -> None:
        super().__init__(
            loader=_LoadsNothing(),
            autoescape=not markdown,
            finalize=_markdown_safe if markdown else None,
            undefined=jinja2.ChainableUndefined,
            auto_reload=False,
            cache_size=0,
        )
        self.max_chars = max_chars
        self.deadline = math.inf
        for name in ("lipsum", "namespace"):
            self.globals.pop(name, None)
        self.globals["range"] = self._range
        self.filters = {
            name: _guarded_filter(self, name, fn)
            for name, fn in {**self.filters, **FILTERS}.items()
        }

    # The deadline, checked wherever the sandbox is asked for something.
    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateTimeoutError("filling the template took longer than its time limit")

    def _range(self, *args: int) -> Iterator[int]:
        self.tick()
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise TemplateRenderError(f"range: more than {MAX_RANGE} numbers")
        return self._ticking(numbers)

    def _ticking(self, numbers: range) -> Iterator[int]:
        for n in numbers:
            self.tick()
            yield n

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        # str.format comes wrapped by the sandbox (`__wrapped__` is the bound method).
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDENING:
                _check_numbers(args, kwargs)
            if name in {"format", "format_map"}:
                _check_format(owner)
        result = super().call(__context, __obj, *args, **kwargs)
        __self.check_size(result)
        return result

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    self.check_length(len(seq) * max(times, 0))
        elif operator == "**":
            big = isinstance(left, int) and isinstance(right, int) and abs(left) > 1
            if big and right * math.log10(abs(left)) > MAX_DIGITS:
                raise TemplateRenderError(f"** makes a number of more than {MAX_DIGITS} digits")
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        result = super().call_binop(context, operator, left, right)
        self.check_size(result)
        return result

    def check_size(self, value: Any) -> None:
        if isinstance(value, str | list | tuple):
            self.check_length(len(value))

    def check_length(self, length: int) -> None:
        if length > self.max_chars:
            raise TemplateRenderError(
                f"a value of {length} characters or items is over the limit of {self.max_chars}"
            )


# What makes text wider than its input from a number: these str methods and filters.
_WIDENING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap"})
_WIDENING_FILTERS = _WIDENING | {"batch", "slice", "truncate", "filesizeformat", "round"}
_BIG_FIGURE = re.compile(r"\d{4,}|\*")


def _check_numbers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARGUMENT:
            raise TemplateRenderError(
                f"a number argument of {value} is over the limit of {MAX_INT_ARGUMENT}"
            )


def _check_format(text: str) -> None:
    """`%` and `str.format` text without widths or precisions that make huge text (a figure
    of four digits or more, or `*`, in a conversion)."""
    for spec in re.findall(r"%[^a-zA-Z%]*[a-zA-Z%]|\{[^{}]*\}", text[:100_000]):
        if _BIG_FIGURE.search(spec):
            raise TemplateRenderError("a format width or precision of 1000 or more")


def _guarded_filter(env: _Sandbox, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        env.tick()
        if name in _WIDENING_FILTERS:
            _check_numbers(args[1:], kwargs)  # the first is the value (or the environment)
        if name == "format" and args and isinstance(args[0], str):
            _check_format(args[0])
        result = fn(*args, **kwargs)
        env.check_size(result)
        return result

    return guarded


# Filters for documents such as invoices; each is fixed-format (no locale of the machine).
def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise TemplateRenderError(f"{name}: expected a number, got a boolean")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise TemplateRenderError(f"{name}: expected a number, got {str(value)[:40]!r}") from None
    if not number.is_finite() or abs(number.adjusted()) > MAX_DIGITS:
        raise TemplateRenderError(f"{name}: {str(value)[:40]!r} is not a usable number")
    return number


def number(value: Any, places: int = 0, thousands: str = ",", point: str = ".") -> str:
    """`1234.5|number(2)` → `1,234.50`: rounded half up, grouped by threes."""
    if not 0 <= places <= 10 or len(thousands) > 3 or len(point) > 3:
        raise TemplateRenderError("number: places 0-10, separators of at most 3 characters")
    rounded = _decimal(value, "number").quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    groups = [whole[max(0, i - 3) : i] for i in range(len(whole), 0, -3)][::-1]
    return sign + thousands.join(groups) + (point + fraction if places else "")


def money(
    value: Any, currency: str = "", places: int = 2, thousands: str = ",", point: str = "."
) -> str:
    """`1234.5|money("EUR")` → `1,234.50 EUR`; `|money("$", before=…)` is not needed: give
    the symbol as `currency` and it follows the amount, or use `"$" ~ x|money`."""
    if len(currency) > 8:
        raise TemplateRenderError("money: a currency of at most 8 characters")
    amount = number(value, places, thousands, point)
    return f"{amount} {currency}" if currency else amount


def date(value: Any, format: str = "%Y-%m-%d") -> str:
    """`"2026-12-04"|date("%d %B %Y")` → `04 December 2026` (English names, any machine)."""
    if len(format) > 100:
        raise TemplateRenderError("date: a format of at most 100 characters")
    if isinstance(value, dt.datetime | dt.date):
        moment: dt.date = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise TemplateRenderError(
                f"date: expected an ISO 8601 date, got {str(value)[:40]!r}"
            ) from None
    try:
        return _english_strftime(moment, format)
    except ValueError as exc:
        raise TemplateRenderError(f"date: {exc}") from None


_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _english_strftime(moment: dt.date, format: str) -> str:
    names = {
        "%B": _MONTHS[moment.month - 1],
        "%b": _MONTHS[moment.month - 1][:3],
        "%A": _DAYS[moment.weekday()],
        "%a": _DAYS[moment.weekday()][:3],
    }
    parts = re.split(r"(%[BbAa])", format)
    return "".join(names.get(p) or moment.strftime(p) if p else "" for p in parts)


FILTERS: dict[str, Callable[..., Any]] = {"number": number, "money": money, "date": date}


def _environment(engine: TemplateEngine, max_chars: int) -> _Sandbox:
    return _Sandbox(markdown=engine is TemplateEngine.MARKDOWN, max_chars=max_chars)


def _line_of(exc: BaseException) -> int | None:
    """The template line an error was raised at (Jinja puts it in the traceback)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line if isinstance(line, int) else None


def check_body(body: str, engine: TemplateEngine, field: str = "body") -> None:
    """The body compiles in the sandbox; `InvalidInputError` on `field` with the line of
    the first syntax error otherwise (also for `include`, `import` and `extends`, which
    nothing can load)."""
    env = _environment(engine, 1)
    try:
        tree = env.parse(body, filename=_TEMPLATE_NAME)
        env.compile(tree, filename=_TEMPLATE_NAME)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidInputError(f"{field}: line {exc.lineno}: {exc.message}", field=field) from None
    except (RecursionError, MemoryError):
        raise InvalidInputError(
            f"{field}: the template is nested too deeply", field=field
        ) from None
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        raise InvalidInputError(
            f"{field}: line {node.lineno}: a template may not include, import or extend "
            "other templates",
            field=field,
        )


def fill(
    body: str,
    engine: TemplateEngine,
    data: Any,
    *,
    timeout_s: float,
    max_chars: int,
    title: str | None = None,
) -> str:
    """The HTML document the template makes from `data` (in this process: `TemplateFiller`
    runs this in a child process that is killed past the time limit).
    `TemplateRenderError` (with the line) or `TemplateTimeoutError`."""
    env = _environment(engine, max_chars)
    env.deadline = time.monotonic() + timeout_s
    try:
        template = env.from_string(body)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(f"line {exc.lineno}: {exc.message}") from None
    context = data if isinstance(data, dict) else {}
    parts: list[str] = []
    size = 0
    try:
        for part in template.generate({"data": data, **context}):
            size += len(part)
            if size > max_chars:
                raise TemplateRenderError(
                    f"the template makes more than {max_chars} characters; the limit"
                )
            parts.append(part)
            env.tick()
    except (TemplateRenderError, TemplateTimeoutError) as exc:
        line = _line_of(exc)
        if line is not None and not exc.message.startswith("line "):
            exc.message = f"line {line}: {exc.message}"
            exc.args = (exc.message,)
        raise
    except RecursionError:
        raise TemplateRenderError(_at(None, "recursion is too deep")) from None
    except MemoryError:
        raise TemplateRenderError("filling the template used more memory than allowed") from None
    except SecurityError as exc:
        raise TemplateRenderError(_at(_line_of(exc), f"not allowed: {exc}")) from None
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(_at(_line_of(exc), str(exc))) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise TemplateRenderError(_at(_line_of(exc), f"{type(exc).__name__}: {exc}")) from None
    text = "".join(parts)
    if engine is TemplateEngine.MARKDOWN:
        return markdown_document(text, title=title)
    return text


def _at(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line is not None else message
