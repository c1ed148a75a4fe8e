"""The host's state the node must not change: network interfaces, routes, iptables rules, the kernel settings
kubelet and kube-proxy touch, mounts, cgroup folders, the folders a node would use, and node processes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.node.cluster import CGROUPS, KERNEL_DEFAULTS

SYSCTLS = (
    *KERNEL_DEFAULTS,
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "net/bridge/bridge-nf-call-iptables",
)
FOLDERS = ("/run/containerd", "/run/netns", "/var/lib/kubelet", "/var/lib/cni", "/var/lib/containerd",
           "/var/log/containers", "/var/log/pods", "/etc/cni/net.d", "/usr/libexec/kubernetes")  # fmt: skip


def _output(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()}"


def _rules(command: str) -> list[str]:
    """`iptables-save` without its comments and counters (which change with traffic)."""
    text = _output(command)
    return [re.sub(r"\[\d+:\d+\]", "", line) for line in text.splitlines() if not line.startswith("#")]


def node_processes(run: Path) -> list[str]:
    """Processes of the node whose run folder is `run` (its components, containerd's shims, the clients)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(run) in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


def traces(run: Path, cgroup_root: str) -> dict[str, object]:
    """What one node (by its run folder and cgroup root) has on the host: processes, cgroup and run folders."""
    return {
        "processes": node_processes(run),
        "cgroups": sorted(str(p) for p in CGROUPS.glob(f"*/{cgroup_root.strip('/')}")),
        "run_folder": run.exists(),
    }


def host_state() -> dict[str, object]:
    """The machine-wide state (another node running meanwhile, e.g. the session's, does not change it)."""
    sysctls = {}
    for name in SYSCTLS:
        path = Path("/proc/sys") / name
        sysctls[name] = path.read_text().strip() if path.exists() else None
    mounts = sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return {
        "links": sorted(re.findall(r"^\d+: ([^:@]+)", _output("ip", "-o", "link", "show"), re.MULTILINE)),
        "addresses": _output("ip", "-o", "addr", "show"),
        "routes": _output("ip", "route", "show", "table", "all"),
        "routes6": _output("ip", "-6", "route", "show", "table", "all"),
        "iptables": _rules("iptables-save"),
        "ip6tables": _rules("ip6tables-save"),
        "sysctls": sysctls,
        "mounts": mounts,
        "folders": {folder: Path(folder).exists() for folder in FOLDERS},
    }
