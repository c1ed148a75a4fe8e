"""One real Kubernetes node on this machine, isolated from it: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet and kube-proxy (iptables mode) from the pinned release (scripts/build-e2e.sh builds them
into one binary), Debian's containerd, runc and CNI plugins, and local images (scripts/build-node-images.sh).

Isolation (see ../shared/haproxy-on-kubernetes.md, "A real node on this machine"):
- A PID 1 made by `unshare` owns private pid, network and mount namespaces; every node process is started
  inside them with `nsenter` and dies with that PID 1. The `unshare` process dies with the test process
  (PR_SET_PDEATHSIG) and takes the namespaces' PID 1 with it (`--kill-child`), so an interrupted or killed test
  run leaves no process behind.
- Inside the mount namespace, `/run`, `/var/lib` and `/var/log` are fresh tmpfs (containerd's shim sockets and
  netns files, CNI state, the folders kubelet uses whatever its root), and the kernel settings kubelet would
  write for the whole machine (`vm.overcommit_memory`, `kernel.panic`, `kernel.panic_on_oops` and the others of
  `KERNEL_DEFAULTS`) are files bound over their /proc/sys entries, already holding the values kubelet wants. Every mount vanishes with the namespace.
- The network namespace has a veth pair carrying the node address and default route, the pod bridge and
  kube-proxy's rules; the host's interfaces, routes, iptables and sysctls are never touched.
- Kubelet's cgroups (cgroupfs driver, cgroup v1) live under one folder per run (`/hgnode-<pid>-<n>` in each
  hierarchy), removed afterwards; folders of runs whose process is gone are removed at the next start.
- Names carry the test process's id and a counter, so two runs on one machine do not collide.

Clients (kubectl, helm, the load client) run in the node's network namespace only: `Node.run`.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.helpers import ROOT

BUILD = ROOT / ".cache" / "e2e"
IMAGES = ROOT / ".cache" / "node" / "images"
CGROUPS = Path("/sys/fs/cgroup")
PREFIX = "hgnode-"
NODE_IP = "10.250.0.1"
GATEWAY_IP = "10.250.0.2"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "hg-node"
KERNEL_DEFAULTS = {  # what kubelet's setupKernelTunables wants (pkg/kubelet/cm/container_manager_linux.go)
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
_counter = itertools.count()

INIT = """
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.2)
"""

SETUP = """
set -eu
mount --make-rprivate /
for folder in /run /var/lib /var/log; do mount -t tmpfs -o mode=755 tmpfs "$folder"; done
mkdir -p /run/netns /var/lib/kubelet/device-plugins /var/log/containers /var/log/pods
for entry in {sysctls}; do
  mount --bind "{run}/sysctl/${{entry//\\//_}}" "/proc/sys/$entry"
done
ip link set lo up
ip link add hgn0 type veth peer name hgn1
ip addr add {node_ip}/24 dev hgn0
ip link set hgn0 up
ip link set hgn1 up
ip route add default via {gateway} dev hgn0
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet
"""


DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "KILL", "--")
"""Prefix of a command that gets SIGKILL when the test process dies (PR_SET_PDEATHSIG, kept across exec)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def hierarchies(*, unified: bool = False) -> list[Path]:
    """The cgroup v1 hierarchies kubelet needs (real folders, not the combined-name links), and with `unified`
    the v2 mount too, where runc also makes folders (for removal)."""
    return [
        path
        for path in sorted(CGROUPS.iterdir())
        if path.is_dir() and not path.is_symlink() and (unified or path.name != "unified")
        and (path / "cgroup.procs").exists()
    ]  # fmt: skip


def _remove_cgroup(path: Path, deadline: float) -> None:
    """Removes a cgroup folder and its children, deepest first (tasks of killed processes leave shortly)."""
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        _rmdir(child, deadline)
    _rmdir(path, deadline)


def _rmdir(path: Path, deadline: float) -> None:
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def sweep_stale() -> list[str]:
    """Removes what runs whose test process is gone left (cgroup folders, run folders); returns what it removed."""
    removed = []
    for hierarchy in hierarchies(unified=True):
        for folder in hierarchy.glob(f"{PREFIX}*"):
            if not _pid_alive(int(folder.name.removeprefix(PREFIX).split("-")[0])):
                _remove_cgroup(folder, time.monotonic() + 10)
                removed.append(str(folder))
    for folder in Path("/tmp").glob(f"{PREFIX}*"):
        if not _pid_alive(int(folder.name.removeprefix(PREFIX).split("-")[0])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


@dataclass
class Certificates:
    ca: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path


def _write_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hg-node-ca")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(name)
        for name in ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost")
    ]  # fmt: skip
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in (NODE_IP, "127.0.0.1", "10.96.0.1")]
    serving = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    paths = Certificates(
        folder / "ca.crt", folder / "apiserver.crt", folder / "apiserver.key", folder / "sa.key", folder / "sa.pub"
    )
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.serving_cert.write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    paths.serving_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    paths.sa_key.write_bytes(sa_key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    paths.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return paths


@dataclass
class Node:
    """A running node; `stop()` (or leaving `start_node`) kills it and removes every trace."""

    run: Path
    """The run folder (configuration, state, logs), on the host under /tmp."""
    init: subprocess.Popen[bytes]
    cgroup_root: str
    kubeconfig: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The namespaces' PID 1 as the host sees it (the child of `unshare`)."""
        children = Path(f"/proc/{self.init.pid}/task/{self.init.pid}/children").read_text().split()
        return int(children[0])

    def enter(self, *, mount: bool = False, pid: bool = False) -> list[str]:
        flags = ["-n"] + (["-m"] if mount else []) + (["-p"] if pid else [])
        return ["nsenter", "-t", str(self._pid), *flags, "--"]

    def run_in(
        self,
        command: Sequence[str],
        *,
        stdin: str | None = None,
        timeout: float = 120,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A client command in the node's network namespace (the host's files and processes otherwise)."""
        return subprocess.run(
            [*self.enter(), *command], input=stdin, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig), **(env or {})}, check=False,
        )  # fmt: skip

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.run_in([str(BUILD / "kubectl"), *args], stdin=stdin, timeout=timeout)

    def kubectl_ok(self, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
        result = self.kubectl(*args, stdin=stdin, timeout=timeout)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-n", namespace, "-o", "json")
        return json.loads(result.stdout) if result.returncode == 0 else None

    def apply(self, objects: Sequence[dict[str, Any]], *args: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", *args, "-f", "-", stdin=yaml.safe_dump_all(list(objects)))

    def wait_for(self, what: str, check: Any, timeout: float = 120, every: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            exited = [name for name, process in self.processes.items() if process.poll() is not None]
            if exited:
                raise AssertionError(f"node: {', '.join(exited)} exited while waiting for {what}\n{self.tail_logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"node: timed out after {timeout:g}s waiting for {what}\n{self.tail_logs()}")
            time.sleep(every)

    def tail_logs(self, lines: int = 15) -> str:
        parts = []
        for name in self.processes:
            log = self.run / "logs" / f"{name}.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    _pid: int = 0

    def start_process(self, name: str, command: Sequence[str]) -> None:
        log = (self.run / "logs" / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [*DIE_WITH_PARENT, *self.enter(mount=True, pid=True), *command], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()

    def stop(self) -> None:
        """Kills the namespaces' PID 1 (so every node process), then removes the cgroup and run folders."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.init.kill()
        self.init.wait(timeout=30)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        deadline = time.monotonic() + 30
        for hierarchy in hierarchies(unified=True):
            _remove_cgroup(hierarchy / self.cgroup_root.strip("/"), deadline)
        shutil.rmtree(self.run, ignore_errors=True)


def _kubeconfig(path: Path, certs: Certificates, token: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "node", "cluster": {"server": f"https://{NODE_IP}:6443", "certificate-authority": str(certs.ca)}}],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "node", "context": {"cluster": "node", "user": "admin", "namespace": "default"}}],
                "current-context": "node",
            }
        )
    )  # fmt: skip


def _containerd_config(run: Path) -> str:
    return f"""version = 2
root = "{run}/containerd/root"
state = "{run}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{run}/containerd.sock"
[ttrpc]
  address = "{run}/containerd-ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{run}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:node"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{run}/cni"
"""


def _cni_config(run: Path) -> dict[str, Any]:
    return {
        "cniVersion": "0.4.0",
        "name": "hg-node",
        "plugins": [
            {
                "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]], "routes": [{"dst": "0.0.0.0/0"}],
                         "dataDir": str(run / "cni-ipam")},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }  # fmt: skip


def _kubelet_config(run: Path, cgroup_root: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "failSwapOn": False,
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{run}/containerd.sock",
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "readOnlyPort": 0,
        "healthzPort": 0,
        "volumePluginDir": str(run / "volume-plugins"),
        "podLogsDir": str(run / "pod-logs"),
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "maxPods": 60,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "enforceNodeAllocatable": ["pods"],
        "localStorageCapacityIsolation": False,
    }


def _proxy_config(run: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(run / "admin.kubeconfig")},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_CIDR,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"{NODE_IP}:10256",
        "metricsBindAddress": f"{NODE_IP}:10249",
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"syncPeriod": "5s", "minSyncPeriod": "0s"},
    }


def _prepare(run: Path, cgroup_root: str) -> tuple[Certificates, str]:
    for sub in ("logs", "cni", "cni-ipam", "etcd", "kubelet", "volume-plugins", "pod-logs", "sysctl", "containerd"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    certs = _write_certificates(run / "pki")
    token = os.urandom(16).hex()
    (run / "tokens.csv").write_text(f'{token},admin,admin-uid,"system:masters"\n')
    _kubeconfig(run / "admin.kubeconfig", certs, token)
    (run / "containerd.toml").write_text(_containerd_config(run))
    (run / "cni" / "10-hg-node.conflist").write_text(json.dumps(_cni_config(run)))
    (run / "kubelet.yaml").write_text(yaml.safe_dump(_kubelet_config(run, cgroup_root)))
    (run / "kube-proxy.yaml").write_text(yaml.safe_dump(_proxy_config(run)))
    for entry, value in KERNEL_DEFAULTS.items():
        (run / "sysctl" / entry.replace("/", "_")).write_text(value + "\n")
    for hierarchy in hierarchies():
        folder = hierarchy / cgroup_root.strip("/")
        folder.mkdir()
        if hierarchy.name == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                (folder / name).write_text((hierarchy / name).read_text())
    return certs, token


def _components(run: Path, certs: Certificates) -> list[tuple[str, list[str]]]:
    node = str(BUILD / "node")
    kubeconfig = str(run / "admin.kubeconfig")
    return [
        ("containerd", ["containerd", "--config", str(run / "containerd.toml")]),
        ("etcd", [node, "etcd", "--data-dir", str(run / "etcd"), "--listen-client-urls", "http://127.0.0.1:2379",
                  "--advertise-client-urls", "http://127.0.0.1:2379", "--listen-peer-urls", "http://127.0.0.1:2380",
                  "--log-level", "warn"]),
        ("kube-apiserver", [node, "kube-apiserver", "--etcd-servers", "http://127.0.0.1:2379",
                            "--bind-address", "0.0.0.0", "--secure-port", "6443", "--advertise-address", NODE_IP,
                            "--tls-cert-file", str(certs.serving_cert), "--tls-private-key-file", str(certs.serving_key),
                            "--client-ca-file", str(certs.ca), "--token-auth-file", str(run / "tokens.csv"),
                            "--service-account-key-file", str(certs.sa_pub),
                            "--service-account-signing-key-file", str(certs.sa_key),
                            "--service-account-issuer", "https://kubernetes.default.svc",
                            "--service-cluster-ip-range", SERVICE_CIDR, "--authorization-mode", "Node,RBAC",
                            "--allow-privileged=true", "--profiling=false", "--cert-dir", str(run / "apiserver-certs"),
                            "--endpoint-reconciler-type", "lease", "--kubelet-preferred-address-types=InternalIP"]),
        ("kube-controller-manager", [node, "kube-controller-manager", "--kubeconfig", kubeconfig,
                                     "--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
                                     "--service-account-private-key-file", str(certs.sa_key),
                                     "--root-ca-file", str(certs.ca), "--leader-elect=false",
                                     "--bind-address", "127.0.0.1", "--cert-dir", str(run / "kcm-certs"),
                                     "--flex-volume-plugin-dir", str(run / "volume-plugins"),
                                     "--use-service-account-credentials=false", "--concurrent-deployment-syncs", "5"]),
        ("kube-scheduler", [node, "kube-scheduler", "--kubeconfig", kubeconfig, "--authentication-kubeconfig", kubeconfig,
                            "--authorization-kubeconfig", kubeconfig, "--leader-elect=false", "--bind-address", "127.0.0.1"]),
        ("kubelet", [node, "kubelet", "--config", str(run / "kubelet.yaml"), "--kubeconfig", kubeconfig,
                     "--root-dir", str(run / "kubelet"), "--node-ip", NODE_IP, "--hostname-override", NODE_NAME,
                     "--cert-dir", str(run / "kubelet-pki")]),
        ("kube-proxy", [node, "kube-proxy", "--config", str(run / "kube-proxy.yaml")]),
    ]  # fmt: skip


def parts_missing() -> list[str]:
    """What the node needs and this machine lacks (built by `make e2e-node`, installed by `make setup`)."""
    missing = [str(p) for p in (BUILD / "node", BUILD / "kubectl", BUILD / "pause") if not os.access(p, os.X_OK)]
    missing += [
        str(IMAGES / f)
        for f in ("pause.tar", "haproxy-2.6.tar", "haproxy-3.2.tar", "haproxy-guard.tar")
        if not (IMAGES / f).is_file()
    ]
    missing += [
        tool
        for tool in ("containerd", "runc", "ctr", "iptables", "conntrack", "unshare", "nsenter", "ip")
        if shutil.which(tool) is None
    ]
    missing += [] if Path("/usr/lib/cni/bridge").exists() else ["/usr/lib/cni/bridge"]
    return missing  # fmt: skip


@contextlib.contextmanager
def start_node(images: Sequence[str] = ("pause", "haproxy-2.6", "haproxy-3.2", "haproxy-guard")) -> Iterator[Node]:
    """Starts the node, imports `images` (archives in .cache/node/images) and yields it once it is Ready."""
    sweep_stale()
    started = time.monotonic()
    ident = f"{os.getpid()}-{next(_counter)}"
    run = Path(f"/tmp/{PREFIX}{ident}")
    run.mkdir()
    cgroup_root = f"/{PREFIX}{ident}"
    try:
        certs, _ = _prepare(run, cgroup_root)
    except BaseException:
        for hierarchy in hierarchies():
            _remove_cgroup(hierarchy / cgroup_root.strip("/"), time.monotonic() + 5)
        shutil.rmtree(run, ignore_errors=True)
        raise
    init = subprocess.Popen(
        [*DIE_WITH_PARENT, "unshare", "--pid", "--fork", "--mount-proc", "--net", "--mount", "--propagation", "private",
         "--kill-child=SIGKILL", "python3", "-c", INIT],
        stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    node = Node(run=run, init=init, cgroup_root=cgroup_root, kubeconfig=run / "admin.kubeconfig")
    try:
        deadline = time.monotonic() + 10
        while not node._pid:
            with contextlib.suppress(FileNotFoundError, IndexError, ValueError):
                node._pid = node.pid
            if time.monotonic() > deadline:
                raise AssertionError("node: the namespaces' PID 1 did not start")
            time.sleep(0.05)
        setup = SETUP.format(sysctls=" ".join(KERNEL_DEFAULTS), run=run, node_ip=NODE_IP, gateway=GATEWAY_IP)
        done = subprocess.run(
            [*node.enter(mount=True), "bash", "-c", setup], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"node: namespace setup failed: {done.stderr}"
        for name, command in _components(run, certs):
            node.start_process(name, command)
            if name == "containerd":
                node.wait_for("containerd", (run / "containerd.sock").exists, timeout=30, every=0.1)
                for image in images:
                    imported = subprocess.run(
                        [*node.enter(mount=True), "ctr", "--address", str(run / "containerd.sock"), "-n", "k8s.io",
                         "images", "import", str(IMAGES / f"{image}.tar")],
                        capture_output=True, text=True, check=False, timeout=300,
                    )  # fmt: skip
                    assert imported.returncode == 0, f"node: import of {image}: {imported.stderr}"
                node.timings["images"] = time.monotonic() - started
            if name == "kube-apiserver":
                node.wait_for("the API server", lambda: node.kubectl("get", "--raw", "/readyz").returncode == 0, 60)
        node.wait_for("the node to be Ready", lambda: _ready(node), timeout=90)
        node.wait_for("the default service account", lambda: node.kubectl("get", "sa", "default").returncode == 0, 60)
        node.timings["ready"] = time.monotonic() - started
        yield node
    finally:
        node.stop()


def new_namespace(node: Node) -> str:
    """A new namespace for one test's objects."""
    name = f"edge-{uuid.uuid4().hex[:6]}"
    node.kubectl_ok("create", "namespace", name)
    return name


def available(node: Node, kind: str, name: str, ns: str, replicas: int) -> bool:
    """Whether the workload finished its rollout: every replica updated and available (a DaemonSet: its pod)."""
    found = node.get(kind, name, ns) or {}
    status = found.get("status", {})
    if kind == "daemonset":
        return bool(
            status.get("numberAvailable", 0) >= 1
            and status.get("updatedNumberScheduled") == status.get("desiredNumberScheduled")
            and status.get("observedGeneration") == found["metadata"]["generation"]
        )
    return bool(
        status.get("observedGeneration") == found.get("metadata", {}).get("generation")
        and status.get("updatedReplicas") == replicas and status.get("availableReplicas") == replicas
        and status.get("replicas") == replicas
    )  # fmt: skip


def _ready(node: Node) -> bool:
    found = node.get("node", NODE_NAME)
    if found is None:
        return False
    conditions = {c["type"]: c["status"] for c in found.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True"
