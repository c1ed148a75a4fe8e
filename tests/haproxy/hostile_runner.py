"""Runs one hostile-suite job and prints the outcome as JSON: `python -m tests.haproxy.hostile_runner`
reads the job on standard input (used to run the same checks as an unprivileged user)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from haproxy_guard.policies.haproxy import sandbox
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries


def execute(job: dict[str, Any]) -> dict[str, Any]:
    if job["kind"] == "suite":  # several jobs in one process (one container start in the image test)
        return {"results": [execute(each) for each in job["jobs"]]}
    if job["kind"] == "jail":
        limits = sandbox.Limits(timeout_seconds=job.get("timeout", 3.0))
        mode = sandbox.SandboxMode(job.get("mode", "require"))
        enabled = sandbox.FORK_SERVER.enabled
        if job.get("direct"):  # the launcher started by this process, not by the fork server
            sandbox.FORK_SERVER.enabled = False
        try:
            result = sandbox.run(
                job["command"], Path(job["folder"]), limits, mode, disable=job.get("disable", ()), env=job.get("env")
            )
        finally:
            sandbox.FORK_SERVER.enabled = enabled
        return {
            "returncode": result.returncode,
            "output": result.output.decode("utf-8", "replace"),
            "timed_out": result.timed_out,
            "seconds": result.seconds,
            "missing": list(result.missing),
            "layers": result.layers.active(),
        }
    binaries = job.get("binaries") or discover_binaries()
    validator = Validator(
        binaries,
        timeout_seconds=job.get("timeout", 3.0),
        disabled_layers=tuple(job.get("disable", ())),
        run_code=job.get("run_code", False),
    )
    files = {path: base64.b64decode(content) for path, content in job.get("files", {}).items()}
    bundle = ConfigBundle(tuple((name, text) for name, text in job["configs"]), files, job.get("env", {}))
    outcome = validator.validate(bundle, job.get("version"))
    return {
        "valid": outcome.valid,
        "errors": [str(message) for message in outcome.errors],
        "warnings": [str(message) for message in outcome.warnings],
        "timed_out": outcome.timed_out,
        "unavailable": outcome.unavailable,
        "seconds": outcome.seconds,
        "version": outcome.version,
    }


def main() -> int:
    json.dump(execute(json.loads(sys.stdin.read())), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
