"""Faults made from outside the processes, one at a time, every few seconds: partitions
(one way, with iptables inside a host), cables pulled (`ip link set down`), SIGKILL and
SIGSTOP of a host's processes, PostgreSQL and S3 outages, 10 % packet loss on every link.
Each fault is healed before the next one starts."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support.testbed.hosts import APIS, WORKERS, Bed
from tests.support.testbed.net import kill_namespace, namespace_pids

LOSS_RULE = ("INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP")

KINDS = (
    "partition_worker_pg",
    "partition_worker_s3",
    "partition_api",
    "kill_worker",
    "pause_worker_past_lease",
    "restart_pg",
    "restart_s3",
    "packet_loss",
)


@dataclass
class Nemesis:
    bed: Bed
    kinds: tuple[str, ...] = KINDS
    every_s: float = 5.0
    hold_s: float = 3.0  # how long a partition or an outage lasts
    seed: int = 11
    injected: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._turn = 0

    # --- one fault each: inject, hold, heal
    def fault(self, kind: str) -> None:
        action: Callable[[], str] = getattr(self, f"_{kind}")
        target = action()
        self.injected[kind] += 1
        self.log.append(f"{time.monotonic() - self._started:7.1f}s {kind} {target}")

    def _pick(self, hosts: tuple[str, ...], offset: int) -> str:
        """The hosts in turn, so that every one of them meets every fault."""
        self._turn += 1
        return hosts[(self._turn + offset) % len(hosts)]

    def _hold(self, seconds: float | None = None) -> None:
        self._stop.wait(self.hold_s if seconds is None else seconds)

    def _one_way(self, host: str, *rule: str) -> str:
        h = self.bed.host(host)
        h.iptables("-A", *rule)
        try:
            self._hold()
        finally:
            h.iptables("-D", *rule)
        return host

    def _partition_worker_pg(self) -> str:
        w = self._pick(WORKERS, 0)  # the worker hears nothing back from PostgreSQL
        return self._one_way(w, "INPUT", "-s", self.bed.host("pg").address, "-j", "DROP")

    def _partition_worker_s3(self) -> str:
        w = self._pick(WORKERS, 1)  # the worker's packets to S3 vanish
        return self._one_way(w, "OUTPUT", "-d", self.bed.host("s3").address, "-j", "DROP")

    def _partition_api(self) -> str:
        api = self._pick(APIS, 0)  # its cable out: nobody reaches it, it reaches nobody
        self.bed.net.link(api, up=False)
        try:
            self._hold(self.hold_s * 2)  # past the clients' connect timeout
        finally:
            self.bed.net.link(api, up=True)
        return api

    def _kill_worker(self) -> str:
        w = self._pick(WORKERS, 2)
        kill_namespace(self.bed.host(w).ns, signal.SIGKILL)
        service = self.bed.services[w]
        service.stop(signal.SIGKILL, 10)  # reap it
        self._hold(1.0)
        service.start()  # the host comes back
        return w

    def _pause_worker_past_lease(self) -> str:
        w = self._pick(WORKERS, 1)
        ns = self.bed.host(w).ns
        kill_namespace(ns, signal.SIGSTOP)
        try:
            self._hold(self.bed.config.lease_s * 2 + 1)  # its leases expire meanwhile
        finally:
            kill_namespace(ns, signal.SIGCONT)
        return w

    def _restart_pg(self) -> str:
        assert self.bed.pg is not None
        crash = self.rng.random() < 0.5
        self.bed.pg.restart(crash=crash)
        self.bed.wait_pg(60)
        return "immediate shutdown (SIGQUIT: recovery)" if crash else "fast shutdown"

    def _restart_s3(self) -> str:
        # moto keeps its objects in memory, so a real restart would empty the bucket: the
        # outage is a stopped server (connections hang) and then a pulled cable.
        service = self.bed.services["s3"]
        pids = namespace_pids(self.bed.host("s3").ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        try:
            self._hold()
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        self.bed.net.link("s3", up=False)
        try:
            self._hold(self.hold_s / 2)
        finally:
            self.bed.net.link("s3", up=True)
        assert service.running()
        return "stopped, then unplugged"

    def _packet_loss(self) -> str:
        hosts = [h for h in self.bed.net.hosts if h != "client"]
        for h in hosts:
            self.bed.host(h).iptables("-A", *LOSS_RULE)
        try:
            self._hold(self.hold_s * 2)
        finally:
            for h in hosts:
                self.bed.host(h).iptables("-D", *LOSS_RULE)
        return f"10 % on {len(hosts)} hosts"

    # --- the schedule
    def start(self) -> None:
        def loop() -> None:
            i = 0
            while not self._stop.wait(self.every_s if i else 1.0):
                kind = self.kinds[i % len(self.kinds)]
                i += 1
                try:
                    self.fault(kind)
                except Exception as exc:
                    self.errors.append(f"{kind}: {exc!r}")

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting and let the fault under way heal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)

    def heal_check(self) -> None:
        """Every host's processes run again (a killed worker was restarted)."""
        for name in WORKERS:
            if not self.bed.services[name].running():
                self.bed.services[name].start()
