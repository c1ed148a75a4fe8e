"""The scenarios, on a `Cluster` of real replicas behind the Service hop, under load:

- `stop`: one replica of several is deleted (as `kubectl delete pod` or a node drain does);
- `rollout`: every replica is replaced as the workload's controller would (Deployment `RollingUpdate` with
  its surge and unavailability, or `Recreate`; StatefulSet one pod at a time, each gone before its
  successor; DaemonSet node by node), a new replica counting once ready for `minReadySeconds`;
- `long-lived`: like `stop`, with clients holding long requests across the stop (`hard-stop-after` and the
  grace period decide whether they finish).
The endpoints controller is emulated: a replica joins the Service `lag` seconds after it turns ready and
leaves it `lag` seconds after deletion (or after it turns unready).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from haproxy_guard.drill.adapt import Replica as Placement
from haproxy_guard.drill.adapt import adapt, connection_cap, free_ports
from haproxy_guard.drill.kubelet import terminate
from haproxy_guard.drill.load import Load, LoadShape, Recorder
from haproxy_guard.drill.prepare import DrillError, Prepared
from haproxy_guard.drill.replica import Replica, kill_group
from haproxy_guard.drill.service import Endpoint, Service
from haproxy_guard.policies.haproxy.validator import launch_command

SCENARIOS = ("stop", "rollout", "long-lived")
READY_TIMEOUT = 60.0
ROLLOUT_DEADLINE = 300.0
WARM_SECONDS = 1.0
TAIL_SECONDS = 1.0
SANDBOX_TEARDOWN_SECONDS = 0.3
"""From a pod's exit to its network being gone (the kubelet stops the sandbox after its containers): on the real
node (tests/node, kubelet 1.34, bridge CNI) refusals ran about 0.3 s past the exit, then connections the
Service still sent there got no answer."""


@dataclass
class Options:
    lag: float = 2.0
    shape: LoadShape = field(default_factory=LoadShape)
    stream_seconds: float = 8.0


@dataclass
class Event:
    seconds: float
    what: str
    replica: str


@dataclass
class RunResult:
    scenario: str
    spec: str
    version: str
    recorder: Recorder
    events: list[Event]
    duration: float
    note: str | None = None


class Cluster:
    """Replicas of one prepared spec, the stand-in backend, the Service hop and the endpoints controller."""

    def __init__(self, prepared: Prepared, folder: Path, options: Options) -> None:
        self.prepared, self.folder, self.options = prepared, folder, options
        self.service = Service()
        self.replicas: list[Replica] = []
        self.events: list[Event] = []
        self.deleted_at: dict[str, float] = {}
        self.exited_at: dict[str, float] = {}
        self.joined: set[str] = set()
        self.backend: asyncio.subprocess.Process | None = None
        self.backend_port = 0
        self.origin = time.monotonic()
        self._count = 0
        self._controller: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def mark(self, what: str, replica: str) -> None:
        self.events.append(Event(time.monotonic() - self.origin, what, replica))

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "haproxy_guard.drill.backend"]
        self.backend = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        assert self.backend.stdout is not None
        line = await asyncio.wait_for(self.backend.stdout.readline(), 30)
        if not line.strip().isdigit():
            raise DrillError("the stand-in backend did not start")
        self.backend_port = int(line)
        await self.service.start()
        self._controller = asyncio.create_task(self._endpoints())

    async def _endpoints(self) -> None:
        lag = self.options.lag
        while True:
            now = time.monotonic()
            for replica in self.replicas:
                deleted = self.deleted_at.get(replica.name)
                gone = deleted is not None and now >= deleted + lag  # not when it exits: that gap is the point
                joins = replica.ready and replica.ready_at is not None and now >= replica.ready_at + lag
                leaves = gone if deleted is not None else not replica.ready
                if replica.exited.is_set():
                    self.exited_at.setdefault(replica.name, now)
                exited = self.exited_at.get(replica.name)
                vanished = deleted is not None and exited is not None and now >= exited + SANDBOX_TEARDOWN_SECONDS
                if vanished and replica.name in self.joined and replica.name not in self.service.unreachable:
                    self.service.unreachable.add(replica.name)  # its sandbox is torn down while still listed
                    self.mark("pod network gone", replica.name)
                if replica.name in self.joined and leaves:
                    self.service.remove(replica.name)
                    self.joined.discard(replica.name)
                    self.mark("endpoint removed", replica.name)
                elif replica.name not in self.joined and joins and not gone and deleted is None:
                    self.service.add(Endpoint(replica.name, replica.ports_local(replica.traffic_port)))
                    self.joined.add(replica.name)
                    self.mark("endpoint added", replica.name)
            await asyncio.sleep(0.02)

    async def new_replica(self) -> Replica:
        prepared = self.prepared
        self._count += 1
        name = f"pod-{self._count}"
        folder = self.folder / name
        folder.mkdir()
        container_ports = prepared.layout.container_ports
        ports = free_ports(len(container_ports) + len(prepared.layout.peers))
        placement = Placement(
            folder,
            dict(zip(container_ports, ports, strict=False)),
            self.backend_port,
            dict(zip(prepared.layout.peers, ports[len(container_ports) :], strict=False)),
            connection_cap(),
        )
        files = []
        for index, text in enumerate(adapt(prepared.configs, placement, prepared.env)):
            path = folder / f"{index}.cfg"
            path.write_text(text, encoding="utf-8")
            files += ["-f", str(path)]
        command = [*launch_command(prepared.binary), "-db", *files]
        if prepared.local_peer and not any("localpeer" in text for text in prepared.configs):
            command += ["-L", prepared.local_peer]
        replica = Replica(
            name,
            folder,
            command,
            dict(prepared.env),
            dict(placement.ports),
            prepared.traffic_port,
            prepared.plan.readiness,
        )
        self.replicas.append(replica)
        try:
            await replica.start()
        except RuntimeError as error:
            raise DrillError(f"{prepared.plan.title}: {error}") from None
        self.mark("started", name)
        self._tasks.append(asyncio.create_task(self._watch_ready(replica)))
        return replica

    async def _watch_ready(self, replica: Replica) -> None:
        while not replica.ready and not replica.exited.is_set() and not replica.terminating:
            await asyncio.sleep(0.02)
        if replica.ready:
            self.mark("ready", replica.name)

    def delete(self, replica: Replica) -> asyncio.Task[None]:
        self.deleted_at[replica.name] = time.monotonic()
        self.mark("deleted", replica.name)
        task = asyncio.create_task(terminate(replica, self.prepared.plan, self.mark))
        self._tasks.append(task)
        return task

    def all_available(self, replicas: list[Replica]) -> bool:
        return all(self.available(replica) for replica in replicas)

    def available(self, replica: Replica) -> bool:
        minimum = self.prepared.plan.strategy.min_ready_seconds
        return (
            replica.ready
            and replica.ready_at is not None
            and time.monotonic() - replica.ready_at >= minimum
            and replica.name in self.joined
        )

    async def wait_for(self, condition: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise DrillError(f"{self.prepared.plan.title} ({self.prepared.spec}): {condition} within {timeout:g}s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._controller is not None:
            self._controller.cancel()
        for task in self._tasks:
            task.cancel()
        for replica in self.replicas:
            replica.stop_probing()
            replica.kill()
        for replica in self.replicas:
            if replica.process is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(replica.process.wait(), 5)
        await self.service.close()
        if self.backend is not None:
            kill_group(self.backend)
            await self.backend.wait()


async def _ready_fleet(cluster: Cluster) -> list[Replica]:
    replicas = list(await asyncio.gather(*(cluster.new_replica() for _ in range(cluster.prepared.plan.replicas))))
    await cluster.wait_for(
        "the replicas did not all turn ready", lambda: all(r.name in cluster.joined for r in replicas)
    )
    return replicas


async def _baseline(cluster: Cluster, shape: LoadShape) -> None:
    """Before anything stops: the configuration answers the drill's request (else every run would count the
    same errors, as written and mutated, and measure nothing)."""
    probe = Load(cluster.service.port, shape, lambda _port, _since: False)
    answers = [await probe.answer() for _ in range(3 * cluster.prepared.plan.replicas)]
    if not any(isinstance(answer, int) and answer < 500 for answer in answers):
        raise DrillError(
            f"{cluster.prepared.plan.title} ({cluster.prepared.spec}): GET {shape.path} with Host {shape.host} gets "
            f"{answers[0]} before any pod stops (no backend for this request?); choose one it routes with --host/--path"
        )


async def _stop(cluster: Cluster, replicas: list[Replica], load: Load) -> str | None:
    """Delete one replica; once the Service no longer sends it anything, no new long request starts (those
    running across the stop are the ones that matter); return when it has exited and left the Service."""
    termination = cluster.delete(replicas[0])
    await cluster.wait_for("the endpoint was not removed", lambda: replicas[0].name not in cluster.joined)
    load.stop_new_streams()
    await termination
    return None


async def _rollout(cluster: Cluster, replicas: list[Replica]) -> str | None:
    strategy = cluster.prepared.plan.strategy
    total = len(replicas)
    old, new = list(replicas), []
    terminations: list[asyncio.Task[None]] = []
    deadline = time.monotonic() + ROLLOUT_DEADLINE
    if strategy.kind in {"None", "OnDelete"}:
        return "no rollout: " + ("a bare Pod does not roll" if strategy.kind == "None" else "updateStrategy OnDelete")
    if strategy.kind == "Recreate":
        await asyncio.gather(*(cluster.delete(replica) for replica in old))
        new = [await cluster.new_replica() for _ in range(total)]
    elif strategy.kind == "OrderedReplace" or (
        strategy.kind == "RollingUpdate" and cluster.prepared.plan.kind == "DaemonSet" and strategy.max_surge == 0
    ):
        batch = 1 if strategy.kind == "OrderedReplace" else max(strategy.max_unavailable, 1)
        while old:
            victims, old = old[-batch:], old[:-batch]
            await asyncio.gather(*(cluster.delete(victim) for victim in victims))
            started = [await cluster.new_replica() for _ in victims]
            new += started
            await cluster.wait_for(
                "a new replica did not become available",
                functools.partial(cluster.all_available, started),
                ROLLOUT_DEADLINE,
            )
    else:
        while old or not all(cluster.available(r) for r in new):
            if time.monotonic() > deadline:
                raise DrillError(
                    f"{cluster.prepared.plan.title}: the rollout did not progress within {ROLLOUT_DEADLINE:g}s"
                )
            while len(new) < total and len(new) + len(old) < total + strategy.max_surge:
                new.append(await cluster.new_replica())
            available = sum(cluster.available(r) for r in new) + len(old)
            while old and available - 1 >= total - strategy.max_unavailable:
                terminations.append(cluster.delete(old.pop()))
                available -= 1
            await asyncio.sleep(0.05)
    await cluster.wait_for(
        "the new replicas did not become available", lambda: all(cluster.available(r) for r in new), ROLLOUT_DEADLINE
    )
    await asyncio.gather(*terminations)
    await cluster.wait_for(
        "the old replicas did not exit and leave the Service",
        lambda: all(r.exited.is_set() and r.name not in cluster.joined for r in replicas),
        ROLLOUT_DEADLINE,
    )
    return None


async def run_scenario(scenario: str, prepared: Prepared, folder: Path, options: Options) -> RunResult:
    """One run of one scenario on fresh processes; every process it started is gone when it returns."""
    shape = options.shape
    if scenario == "long-lived":
        shape = LoadShape(
            shape.rate, shape.keepalive_clients, shape.new_connection_share, shape.timeout, 4, options.stream_seconds
        )
    cluster = Cluster(prepared, folder, options)
    started = time.monotonic()
    note: str | None = None
    try:
        await cluster.start()
        replicas = await _ready_fleet(cluster)
        await _baseline(cluster, shape)
        load = Load(
            cluster.service.port, shape, lambda port, since: cluster.service.refused_clients.get(port, -1.0) >= since
        )
        cluster.origin = time.monotonic()
        cluster.events = [Event(0.0, "load started", "")]
        load.start()
        try:
            await asyncio.sleep(WARM_SECONDS if scenario != "long-lived" else WARM_SECONDS + 1.0)
            if scenario == "rollout":
                note = await _rollout(cluster, replicas)
            else:
                await _stop(cluster, replicas, load)
            await load.finish_streams()
            await asyncio.sleep(TAIL_SECONDS)
        finally:
            recorder = await load.stop()
        cluster.mark("load stopped", "")
    finally:
        await cluster.close()
    return RunResult(
        scenario, prepared.spec, prepared.version, recorder, cluster.events, time.monotonic() - started, note
    )
