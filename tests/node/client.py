"""The load client of the node tests, run inside the node's network namespace (`Node.run_in`): the drill's own
clients (haproxy_guard.drill.load), pointed at a Service address through kube-proxy. Keep-alive clients and
new-connection clients run side by side and are counted apart, failures by kind (refused, reset, timeout,
status_5xx). Bounded: it stops at `--seconds` or when its stdin closes, whichever comes first, and prints one
JSON object: {"keepalive": {"total": N, "failures": {...}}, "new_connection": {...}}.

Usage: python -m tests.node.client ADDRESS PORT [--rate R] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from haproxy_guard.drill.load import Load, LoadShape


async def _stdin_closed() -> None:
    """Returns when stdin (a pipe from the test) reaches its end."""
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def readable() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            closed.set()

    loop.add_reader(sys.stdin.fileno(), readable)
    await closed.wait()


async def measure(address: str, port: int, rate: float, seconds: float) -> dict[str, dict[str, object]]:
    shapes = {
        "keepalive": LoadShape(rate=rate, keepalive_clients=8, new_connection_share=0.0, timeout=3.0),
        "new_connection": LoadShape(rate=rate, keepalive_clients=0, new_connection_share=1.0, timeout=3.0),
    }
    loads = {name: Load(port, shape, lambda _port, _since: False, address=address) for name, shape in shapes.items()}
    for load in loads.values():
        load.start()
    print("started", file=sys.stderr, flush=True)
    stdin = asyncio.ensure_future(_stdin_closed())
    await asyncio.wait([stdin], timeout=seconds)
    result = {}
    for name, load in loads.items():
        recorder = await load.stop()
        result[name] = {
            "total": len(recorder.outcomes),
            "failures": recorder.failures(),
            "failed_at": [[round(o.start, 2), o.kind] for o in recorder.outcomes if o.kind != "ok"],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second per client kind")
    parser.add_argument("--seconds", type=float, default=120.0, help="the most it runs")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.address, args.port, args.rate, args.seconds))), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
