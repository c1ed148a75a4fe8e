"""Which modules the build compiles to C with mypyc, and which of them this process runs compiled.

`setup.py` reads `COMPILED`, `GROUP` and `digest` from this file by path (it imports nothing of the package, so the
build needs none of its dependencies). The `.py` source of each module is installed beside its compiled
form and runs wherever the compiled one is missing (`HAPROXY_GUARD_COMPILE=0`, or no C compiler at build
time): the answers are the same either way, which `tests/test_native.py` checks on the golden inputs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
from pathlib import Path

GROUP = "haproxy_guard.native"
"""mypyc's group: the runtime shared by the compiled modules is the extension `haproxy_guard.native__mypyc`."""

COMPILED = (
    # what every admission and every audited object runs: detection, the policies' checks and fixes, the copy
    # and the patch diff, and the reading of HAProxy configurations the policies look into. Not compiled:
    # what memoizes on instances (memo.py's `once`: configmap.py, bundle.py), pydantic models (settings.py),
    # the sandbox, and findings.py (compiled classes lose their docstrings, and pydantic takes `Severity`'s
    # for the settings' JSON schema: the chart's values.schema.json)
    "haproxy_guard/policies/engine.py",
    "haproxy_guard/policies/policy.py",
    "haproxy_guard/policies/registry.py",
    "haproxy_guard/policies/answer_memo.py",
    "haproxy_guard/policies/context.py",
    "haproxy_guard/policies/model/commands.py",
    "haproxy_guard/policies/model/container_view.py",
    "haproxy_guard/policies/model/families.py",
    "haproxy_guard/policies/model/health.py",
    "haproxy_guard/policies/model/images.py",
    "haproxy_guard/policies/model/json_text.py",
    "haproxy_guard/policies/model/lifecycle.py",
    "haproxy_guard/policies/model/mounted.py",
    "haproxy_guard/policies/model/mounts.py",
    "haproxy_guard/policies/model/objects.py",
    "haproxy_guard/policies/model/patch.py",
    "haproxy_guard/policies/model/prestop.py",
    "haproxy_guard/policies/model/quantities.py",
    "haproxy_guard/policies/model/rollout.py",
    "haproxy_guard/policies/model/selectors.py",
    "haproxy_guard/policies/model/shapes.py",
    "haproxy_guard/policies/model/workload.py",
    "haproxy_guard/policies/model/workload_config.py",
    "haproxy_guard/policies/rules/config_hash.py",
    "haproxy_guard/policies/rules/daemonset_rolling_update.py",
    "haproxy_guard/policies/rules/deployment_recreate.py",
    "haproxy_guard/policies/rules/deployment_rolling_update.py",
    "haproxy_guard/policies/rules/haproxy_config_source.py",
    "haproxy_guard/policies/rules/haproxy_config_valid.py",
    "haproxy_guard/policies/rules/haproxy_dns_resolvers.py",
    "haproxy_guard/policies/rules/haproxy_hard_stop_after.py",
    "haproxy_guard/policies/rules/haproxy_health_endpoint.py",
    "haproxy_guard/policies/rules/haproxy_idle_close.py",
    "haproxy_guard/policies/rules/haproxy_maxconn.py",
    "haproxy_guard/policies/rules/haproxy_memory_limit.py",
    "haproxy_guard/policies/rules/haproxy_nbthread_cpu.py",
    "haproxy_guard/policies/rules/haproxy_stop_signal.py",
    "haproxy_guard/policies/rules/single_replica.py",
    "haproxy_guard/policies/rules/haproxy_timeouts.py",
    "haproxy_guard/policies/rules/liveness_shallow.py",
    "haproxy_guard/policies/rules/pod_disruption_budget.py",
    "haproxy_guard/policies/rules/prestop_wait.py",
    "haproxy_guard/policies/rules/readiness_probe.py",
    "haproxy_guard/policies/rules/skip_annotation.py",
    "haproxy_guard/policies/rules/statefulset_rollout.py",
    "haproxy_guard/policies/rules/termination_grace_period.py",
    "haproxy_guard/policies/haproxy/addresses.py",
    "haproxy_guard/policies/haproxy/config.py",
    "haproxy_guard/policies/haproxy/directives.py",
    "haproxy_guard/policies/haproxy/durations.py",
    "haproxy_guard/policies/haproxy/lexer.py",
    "haproxy_guard/policies/haproxy/memory.py",
    "haproxy_guard/policies/haproxy/render.py",
    "haproxy_guard/policies/haproxy/stubs.py",
    "haproxy_guard/policies/haproxy/unknowns.py",
)


def module_names() -> tuple[str, ...]:
    return tuple(path.removesuffix(".py").replace("/", ".") for path in COMPILED)


def compiled_modules() -> dict[str, bool]:
    """Each module of `COMPILED` (imported if need be) -> whether it runs compiled in this process."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return {
        name: str(getattr(importlib.import_module(name), "__file__", "") or "").endswith(suffixes)
        for name in module_names()
    }


def describe() -> str:
    """`compiled (14 modules)`, `pure Python` or `partly compiled (3 of 14: ...)` for logs and `--version`."""
    status = compiled_modules()
    compiled = [name for name, native in status.items() if native]
    if len(compiled) == len(status):
        return f"compiled ({len(status)} modules)"
    if not compiled:
        return "pure Python"
    return f"partly compiled ({len(compiled)} of {len(status)}: {', '.join(compiled)})"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stale_modules(root: Path | None = None) -> list[str]:
    """The compiled modules (paths as in `COMPILED`) whose source changed since they were compiled, per the
    digests the build recorded in `haproxy_guard/native.lock`; empty when nothing was compiled in place."""
    root = root or Path(__file__).resolve().parent.parent
    lock = root / "haproxy_guard" / "native.lock"
    if not lock.is_file():
        return []
    recorded: dict[str, str] = json.loads(lock.read_text())
    return sorted(path for path, sha in recorded.items() if not (root / path).is_file() or digest(root / path) != sha)
