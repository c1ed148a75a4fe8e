"""The `haproxy-guard` console script (and `python -m haproxy_guard.cli`): the command line is read first,
with nothing but argparse loaded, so that an `audit` of a large input starts its reading process
(`cli.read_ahead`) before the engine, pydantic and the policies are imported (about 0.3 s, during which the
second core parses YAML). Everything else is `cli.main`."""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence

from haproxy_guard.cli.arguments import build_parser

BATCH_COLLECTOR_THRESHOLDS = (10_000, 20, 20)
"""The cyclic collector's thresholds for `audit` and `mutate` (Python's are 700, 10, 10). A large input is
hundreds of thousands of acyclic objects (parsed documents, their findings) that reference counting frees;
with the defaults the collector walked them about 250 times in a 1,000-release audit (0.15-0.19 s of the
process holding the interpreter lock), with these about 16 times (0.03 s), at the same peak memory
(`bench/README.md`)."""


PYDANTIC_PLUGINS = ("PYDANTIC_DISABLE_PLUGINS", "__all__")
"""Pydantic loads the plugins every installed distribution declares (an `entry_points()` scan of the whole
environment: 20-50 ms of `audit` in a development environment) when the first model is built. None is used
here, and code this program does not import should not run in it: they are off unless the variable is set."""


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault(*PYDANTIC_PLUGINS)
    args = build_parser().parse_args(argv)
    if args.command in {"audit", "mutate"}:
        gc.set_threshold(*BATCH_COLLECTOR_THRESHOLDS)
    documents = None
    if args.command == "audit" and not args.cluster:
        from haproxy_guard.cli.read_ahead import audit_documents  # noqa: PLC0415 - after the parse

        documents = audit_documents(args.paths, args.format, args.exclude)
    from haproxy_guard.cli.main import run  # noqa: PLC0415 - the engine: imported while the input is read

    code = run(args, documents)
    # What is left (the modules, caches, results: hundreds of thousands of objects after a large audit) is
    # freed by the exit; frozen, the collector's full passes at shutdown skip it (0.1-0.2 s of a 2.5 s audit)
    gc.freeze()
    return code
