"""Pod termination as the kubelet runs it (Pod lifecycle, "Termination of Pods"), on a `Replica`:

at deletion, in parallel, the endpoint leaves the Service a lag later (the endpoints controller and
kube-proxy or the load balancer catching up; `Cluster` applies it) and the preStop handler runs (its steps as
`model.prestop` reads them: waits wait, signals go to HAProxy, a wait for HAProxy's exit waits for it;
`httpGet` is really sent; an exec command whose effect cannot be told is not run); then the stop signal
(the image's, or `lifecycle.stopSignal`) goes to the main process; SIGKILL goes to the whole container when
`terminationGracePeriodSeconds`, counted from deletion with preStop included, runs out. A preStop that
outlasts the grace period is cut there and the runtime still gets 2 s after the signal (the kubelet's
one-off extension).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

from haproxy_guard.drill.plan import PodPlan
from haproxy_guard.drill.replica import Replica

MINIMUM_STOP_SECONDS = 2.0
Mark = Callable[[str, str], None]
"""(event, replica name) -> None: records a timeline event."""


async def _pre_stop(replica: Replica, plan: PodPlan) -> None:
    handler = plan.pre_stop
    if handler.kind in {"sleep", "exec"}:
        for step in handler.steps:
            if step.kind == "wait":
                await asyncio.sleep(min(step.seconds, 86400.0))
            elif step.kind == "signal" and step.signal is not None:
                replica.signal(signal.Signals[step.signal])
            elif step.kind == "wait-exit":
                await replica.exited.wait()
    elif handler.kind == "http" and handler.port is not None:
        port = replica.ports_local(handler.port)
        with contextlib.suppress(OSError, TimeoutError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {handler.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            await reader.read()
            writer.close()


async def terminate(replica: Replica, plan: PodPlan, mark: Mark) -> None:
    """Delete the pod: preStop, stop signal, SIGKILL at the end of the grace period; returns once it exited."""
    deleted = time.monotonic()
    replica.stop_probing()
    grace = plan.grace_seconds
    if plan.pre_stop.kind != "none":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_pre_stop(replica, plan), max(grace, 0.0))
        mark("preStop ended", replica.name)
    spent = time.monotonic() - deleted
    replica.signal(plan.stop_signal)
    mark(f"stop signal ({plan.stop_signal.name})", replica.name)
    remaining = max(grace - spent, MINIMUM_STOP_SECONDS)
    try:
        await asyncio.wait_for(replica.exited.wait(), remaining)
    except TimeoutError:
        replica.kill()
        mark("SIGKILL", replica.name)
        await replica.exited.wait()
    mark("exited", replica.name)
