"""Chromium, driven over the DevTools protocol: the warm pool (`pool.py`), its pages and their
sandbox (`tab.py`), the print parameters (`printing.py`), which Chromium runs
(`discovery.py`) and how it is started (`launch.py`), the protocol client (`cdp.py`) and
what a browser's processes hold (`memory.py`)."""

from pdfprompt.render.chromium.cdp import (
    MAX_MESSAGE_BYTES,
    BrowserClosedError,
    CdpBrowser,
    CdpError,
    MessagePipe,
    lower_session_group,
)
from pdfprompt.render.chromium.discovery import (
    find_browser,
    find_chromium,
    find_headless_shell,
    is_headless_shell,
)
from pdfprompt.render.chromium.launch import CHROMIUM_ARGS, HEADLESS_ARGS
from pdfprompt.render.chromium.memory import MEMORY_CHECK_EVERY, process_tree
from pdfprompt.render.chromium.pool import ChromiumRenderer
from pdfprompt.render.chromium.printing import (
    capped_ranges,
    count_pages,
    print_parameters,
    refused_print,
)

__all__ = [
    "CHROMIUM_ARGS",
    "HEADLESS_ARGS",
    "MAX_MESSAGE_BYTES",
    "MEMORY_CHECK_EVERY",
    "BrowserClosedError",
    "CdpBrowser",
    "CdpError",
    "ChromiumRenderer",
    "MessagePipe",
    "capped_ranges",
    "count_pages",
    "find_browser",
    "find_chromium",
    "find_headless_shell",
    "is_headless_shell",
    "lower_session_group",
    "print_parameters",
    "process_tree",
    "refused_print",
]
