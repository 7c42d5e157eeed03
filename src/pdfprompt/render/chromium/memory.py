"""What a browser's processes hold, read from /proc cheaply enough to look several times a
second while it renders, and how often the pool looks.

A browser's memory is watched while renders run on it (`ChromiumRenderer`): its processes are
found by walking /proc/<pid>/task/<tid>/children from the browser down (the dearer of the two
reads, so only every few looks), and what each holds is read from /proc/<pid>/status:
resident anonymous memory and resident shared memory (`RssAnon` + `RssShmem`; images Chromium
decodes and the PDF it hands between processes are in shared memory). The program's own
mapped files are left out: they are shared by every process and can be read back from disk.
The kernel keeps these counts as it goes, so a look reads no page tables
(/proc/<pid>/smaps_rollup, which the recycling check reads, walks them). What each read costs
is in docs/render.md ("Memory", "Recycling").
"""

from __future__ import annotations

import asyncio
import os

from pdfprompt.render.chromium.cdp import CdpBrowser

MEMORY_CHECK_EVERY = 25  # renders on a browser between checks of its memory
# ... and seconds at least between them: a check walks the page tables of every process of
# the browser, which every `MEMORY_CHECK_EVERY` renders alone was a noticeable share of a
# render's cost on the headless shell.
MEMORY_CHECK_MIN_S = 5.0
# While renders run on a browser, what its processes hold is looked at this often (and its
# process tree walked again at most every `MEMORY_TREE_S`); over the render memory limit it
# is killed. Looking often keeps how far a render can pass the limit small; walking less
# often keeps the watch cheap.
MEMORY_WATCH_S = 0.1
MEMORY_TREE_S = 0.5

_FIELDS = (b"RssAnon:", b"RssShmem:")


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (children of any of its threads), as far as /proc
    shows them now; processes that exit meanwhile are left out."""
    found = [pid]
    i = 0
    while i < len(found):
        parent = found[i]
        i += 1
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{parent}/task/{thread}/children", "rb") as fh:
                    found.extend(int(child) for child in fh.read().split())
            except (OSError, ValueError):
                continue
    return found


def held_mb(pids: list[int]) -> dict[int, float]:
    """What each of these processes holds, in MB: resident anonymous and shared memory
    (`RssAnon` + `RssShmem`). Processes that are gone are left out."""
    held: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                status = fh.read()
        except OSError:
            continue
        kb = 0
        for name in _FIELDS:
            at = status.find(name)
            if at >= 0:
                end = status.find(b"\n", at)
                kb += int(status[at + len(name) : end].split()[0])
        held[pid] = kb / 1024
    return held


def pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes, in MB (shared pages counted once overall):
    what the recycling check weighs, every few renders; it walks the page tables."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return total_kb / 1024


async def browser_mb(browser: CdpBrowser) -> float:
    """What a browser's processes use (`pss_mb`), by their ids from CDP
    `SystemInfo.getProcessInfo`."""
    info = await browser.send("SystemInfo.getProcessInfo")
    return await asyncio.to_thread(pss_mb, [p["id"] for p in info["processInfo"]])
