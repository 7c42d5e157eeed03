"""Hosts as Linux network namespaces on one private switch: a bridge in a namespace of its
own, one veth pair per host, addresses from a /24 picked from the owning process's id.
Nothing here touches the root namespace's networking."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field

from tests.support.processes import alive

CLONE_NEWNET = 0x40000000
PREFIX = "pbed"  # every namespace of a bed is named pbed<pid>-<host>
_NAME = re.compile(rf"^{PREFIX}(\d+)-")
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args: str, check: bool = True, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def enter_namespace(ns: str) -> None:
    """Move the calling thread (only it) into the network namespace `ns`: sockets it opens
    from now on live there."""
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def namespaces() -> list[str]:
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_pids(ns: str) -> list[int]:
    out = sh("ip", "netns", "pids", ns, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace(ns: str, sig: int = signal.SIGKILL) -> list[int]:
    """Send `sig` to every process in `ns`; the pids signalled."""
    pids = namespace_pids(ns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


def remove_namespace(ns: str) -> None:
    for _ in range(50):  # bounded: killed processes leave within moments
        if not kill_namespace(ns):
            break
    sh("ip", "netns", "delete", ns, check=False)


def clean_stale_beds() -> list[str]:
    """Delete the namespaces of beds whose owning process is gone; their names."""
    gone = []
    for ns in namespaces():
        m = _NAME.match(ns)
        if m and not alive(int(m.group(1))):
            remove_namespace(ns)
            gone.append(ns)
    return gone


def can_make_namespaces() -> str | None:
    """None where this process may make network namespaces; else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    sh("ip", "netns", "delete", probe, check=False)
    if sh("iptables", "--version", check=False).returncode != 0:
        return "iptables is not installed"
    return None


@dataclass
class Host:
    name: str
    ns: str
    address: str

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns, *args, check=check)

    def iptables(self, *rule: str) -> None:
        self.run("iptables", "-w", *rule)

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run inside this host."""
        return ["ip", "netns", "exec", self.ns, *argv]


@dataclass
class Network:
    """The switch and the hosts on it."""

    owner: int = field(default_factory=os.getpid)
    hosts: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A /24 per owning pid: 10.<a>.<b>.0/24, never 10.0.x (often in use elsewhere).
        a, b = 1 + (self.owner >> 8) % 250, self.owner & 0xFF
        self.subnet_prefix = f"10.{a}.{b}"
        self.subnet = f"{self.subnet_prefix}.0/24"
        self.switch = f"{PREFIX}{self.owner}-sw"

    def ns_name(self, host: str) -> str:
        return f"{PREFIX}{self.owner}-{host}"

    def create_switch(self) -> None:
        sh("ip", "netns", "add", self.switch)
        sw = ("ip", "-n", self.switch)
        sh(*sw, "link", "add", "br0", "type", "bridge")
        sh(*sw, "link", "set", "br0", "up")
        sh(*sw, "link", "set", "lo", "up")

    def add_host(self, name: str, last_octet: int) -> Host:
        ns = self.ns_name(name)
        sh("ip", "netns", "add", ns)
        port = f"p{last_octet}"  # the switch's end, named inside the switch namespace only
        sh(
            "ip",
            "-n",
            self.switch,
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        sh("ip", "-n", self.switch, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.switch, "link", "set", port, "up")
        address = f"{self.subnet_prefix}.{last_octet}"
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        host = Host(name, ns, address)
        self.hosts[name] = host
        return host

    def link(self, host: str, up: bool) -> None:
        """The host's cable in or out (its end on the switch goes down)."""
        octet = self.hosts[host].address.rsplit(".", 1)[1]
        sh("ip", "-n", self.switch, "link", "set", f"p{octet}", "up" if up else "down")

    def destroy(self) -> None:
        for host in list(self.hosts.values()):
            remove_namespace(host.ns)
        remove_namespace(self.switch)
        self.hosts.clear()
