"""LLM client benchmark: pdfprompt's client against an httpx client, many answers at once.

    scripts/bench.sh llm [--answers 1000] [--latency-ms 3000] [--rounds 3]

`pdfprompt dev fake-llm --stream` answers every request after `--latency-ms`,
streaming its document in 64-character events. In each round, `--answers`
requests are made at once, as a worker with that many job slots waiting on the
model does, by:

1. httpx: one `httpx.AsyncClient` with no cap on connections (what pdfprompt's
   client used before), reading the stream line by line;
2. pdfprompt: `LlmClient.write`, the service's own client (aiohttp).

Both parse every event. Reports this process's CPU per answer (user + system,
from `getrusage`; the fake model runs in a process of its own) and the wall time
of the round; rounds are interleaved and the median round is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import resource
import subprocess
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version

import httpx
import uvloop
from benchlib import PDFPROMPT, free_port, wait_http

from pdfprompt.generate import KeyRing, LlmClient, messages, streamed_text


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(n: int, one: Callable[[int], Awaitable[int]]) -> tuple[float, float]:
    """(CPU ms per answer, wall seconds) of `n` answers asked for at once."""
    c0, t0 = cpu_s(), time.perf_counter()
    sizes = await asyncio.gather(*(one(i) for i in range(n)))
    c1, t1 = cpu_s(), time.perf_counter()
    if min(sizes) < 1000:
        raise SystemExit(f"an answer was cut short ({min(sizes)} characters)")
    return (c1 - c0) / n * 1000, t1 - t0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--answers", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    command = [PDFPROMPT, "dev", "fake-llm", "--port", str(port), "--stream"]
    fake = subprocess.Popen(
        [*command, "--latency-ms", str(args.latency_ms)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    asked = messages("Quarterly report\nRevenue grew 12 %", tone="formal", kind="report")
    body = {"model": "fake", "messages": asked, "stream": True, "max_tokens": 8000}
    llm = LlmClient(base, KeyRing(["sk-bench"]), ["fake"], timeout_s=60)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    reference = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=10), limits=limits)

    async def with_httpx(_i: int) -> int:
        received = 0
        headers = {"Authorization": "Bearer sk-bench", "Accept": "text/event-stream"}
        url = f"{base}/chat/completions"
        async with reference.stream("POST", url, json=body, headers=headers) as resp:
            async for line in resp.aiter_lines():
                text = streamed_text(line)
                if text == "":
                    break
                received += len(text or "")
        return received

    async def with_pdfprompt(_i: int) -> int:
        html, _ = await llm.write(asked)
        return len(html)

    cases = {"httpx": with_httpx, "pdfprompt": with_pdfprompt}
    try:
        wait_http(f"http://127.0.0.1:{port}/_calls")
        print("# LLM client benchmark")
        print(
            f"python {platform.python_version()}, aiohttp {version('aiohttp')}, httpx "
            f"{httpx.__version__}; {args.answers} answers at once, model latency "
            f"{args.latency_ms} ms; {args.rounds} interleaved rounds, the median shown"
        )
        for one in cases.values():  # warm: imports, first connections
            await timed(5, one)
        runs: dict[str, list[tuple[float, float]]] = {case: [] for case in cases}
        for _ in range(args.rounds):
            for case, one in cases.items():
                runs[case].append(await timed(args.answers, one))
        print("\n| client | CPU ms per answer (median) | all rounds | wall s (median round) |")
        print("|---|---|---|---|")
        medians = {}
        for case, results in runs.items():
            median = sorted(results)[len(results) // 2]
            medians[case] = median[0]
            every = ", ".join(f"{cpu:.2f}" for cpu, _ in results)
            print(f"| {case} | {median[0]:.2f} | {every} | {median[1]:.1f} |")
        print(f"\npdfprompt uses {medians['pdfprompt'] / medians['httpx']:.2f} of httpx's CPU")
    finally:
        await llm.aclose()
        await reference.aclose()
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    uvloop.run(main())  # the event loop `pdfprompt serve` runs on
