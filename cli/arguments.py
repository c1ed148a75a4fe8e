"""The `haproxy-guard` command line's arguments: every command, option, default and help text.

Kept apart from `cli.main` and light to import (argparse only): the console script (`cli.entry`) reads the
command line before the engine is imported, so a large audit input can start being read at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from haproxy_guard.cli.formats import FORMATS


def _add_check_config(commands: Any) -> None:
    check = commands.add_parser("check-config", help="validate HAProxy configuration files with haproxy -c")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="configuration files, loaded in order")
    choice = check.add_mutually_exclusive_group()
    choice.add_argument("--haproxy", metavar="BIN", help="HAProxy binary (default: every branch found, see below)")
    choice.add_argument(
        "--haproxy-version", metavar="X.Y", help="the validator of this branch (3.1: the nearest newer)"
    )
    choice.add_argument("--all-versions", action="store_true", help="one verdict per branch (exit 1 if any is invalid)")
    check.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a variable the pods define (repeatable)"
    )
    check.add_argument(
        "--closed-env",
        action="store_true",
        help="no variable but the --env ones is defined (default: others may be, with values unknown here)",
    )


def _add_drill(commands: Any) -> None:
    drill = commands.add_parser(
        "drill", help="run the input's HAProxy workloads as real HAProxy under load through pod stops and rollouts"
    )
    drill.add_argument("paths", nargs="*", metavar="PATH", help="files or folders; - or nothing reads stdin")
    drill.add_argument("--scenario", default="all", choices=["stop", "rollout", "long-lived", "all"])
    drill.add_argument("--runs", type=int, default=1, help="runs of each scenario and spec (default 1)")
    drill.add_argument("--plot", type=Path, metavar="FILE.png", help="write a timeline of the first runs")
    drill.add_argument("--format", default="text", choices=["text", "json"], help="output format")
    drill.add_argument("--settings", type=Path, help="settings YAML file (as for mutate)")
    drill.add_argument("--haproxy-version", metavar="X.Y", help="run this branch instead of the image's")
    drill.add_argument(
        "--endpoint-lag", type=float, default=2.0, metavar="SECONDS",
        help="how long after a change the Service follows (default 2; real clusters: under 1 to 30)",
    )  # fmt: skip
    drill.add_argument("--rate", type=float, default=300.0, help="requests per second (default 300)")
    drill.add_argument("--host", default="drill.local", help="Host header of the requests (for host routing)")
    drill.add_argument("--path", default="/", help="path of the requests (default /)")
    drill.add_argument(
        "--stream-seconds", type=float, default=8.0, help="length of the long-lived requests (default 8)"
    )


class _Version(argparse.Action):
    """`--version`: the package's version and whether its hot path runs compiled (imports the engine, so
    only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import version  # noqa: PLC0415 - only for --version

        from haproxy_guard.native import describe  # noqa: PLC0415

        print(f"haproxy-guard {version('haproxy-guard')} (engine: {describe()})")
        parser.exit()


def _add_serving(commands: Any) -> None:
    """`serve` (the webhook) and `checker` (its checks in a container of their own)."""
    serve = commands.add_parser("serve", help="serve the admission webhook over HTTPS")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, default=8443, help="port to listen on (default 8443)")
    serve.add_argument("--cert-dir", type=Path, help="folder with tls.crt and tls.key")
    serve.add_argument("--tls-cert", type=Path, help="serving certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="serving key (PEM)")
    serve.add_argument("--settings", type=Path, help="settings YAML file")
    serve.add_argument(
        "--metrics-port",
        type=int,
        default=9090,
        help="plain-HTTP port for /metrics (default 9090; 0 serves /metrics on the HTTPS port instead)",
    )
    serve.add_argument(
        "--cert-poll-seconds",
        type=float,
        default=5.0,
        help="how often the certificate files are checked for changes (default 5)",
    )
    serve.add_argument(
        "--self-signed", action="store_true", help="create a CA and serving certificate in --cert-dir if none exist"
    )
    serve.add_argument(
        "--checker-socket",
        type=Path,
        help="run the checks in the checker container listening on this Unix socket (privilege separation); "
        "without it they run in this process, behind the same jail",
    )

    checker = commands.add_parser(
        "checker", help="serve HAProxy configuration checks on a Unix socket (the pod's checker container)"
    )
    checker.add_argument("--socket", type=Path, required=True, help="Unix socket to listen on")
    checker.add_argument("--settings", type=Path, help="settings YAML file (only the validator settings are read)")


def _input_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-empty",
        action="store_true",
        help="accept input with no Kubernetes object (default: exit 2, since an empty render is usually a failure)",
    )
    command.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip files of folder inputs matching GLOB (relative path or name; repeatable), e.g. 'tests/*'",
    )


def _add_validators(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validators_cmd = commands.add_parser(
        "validators", help="list or install the HAProxy validators of the maintained branches (pinned, verified)"
    )
    validators_actions = validators_cmd.add_subparsers(dest="validators_command", metavar="ACTION", required=True)
    validators_actions.add_parser("list", help="each maintained branch: its validator, or how to get it")
    install_cmd = validators_actions.add_parser("install", help="download, verify and unpack the pinned validators")
    install_cmd.add_argument(
        "--branch",
        action="append",
        default=[],
        metavar="X.Y",
        help="a branch to install (repeatable; default: missing ones)",
    )
    install_cmd.add_argument(
        "--dest",
        type=Path,
        help="folder (default: $HAPROXY_GUARD_VALIDATORS_DIR, else ~/.cache/haproxy-guard/validators)",
    )
    install_cmd.add_argument(
        "--mirror", default="https://deb.debian.org/debian", help="Debian mirror (default deb.debian.org)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="haproxy-guard", description="Admission guard for HAProxy on Kubernetes")
    parser.add_argument("--version", action=_Version, help="print the version and whether the engine is compiled")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_serving(commands)

    audit_cmd = commands.add_parser("audit", help="report findings on manifests (files, folders, stdin) or a cluster")
    audit_cmd.add_argument("paths", nargs="*", metavar="PATH", help="files or folders; - or nothing reads stdin")
    audit_cmd.add_argument("--settings", type=Path, help="settings YAML file")
    audit_cmd.add_argument("--format", default="text", choices=[*FORMATS, "policyreport"], help="output format")
    audit_cmd.add_argument("--cluster", action="store_true", help="audit the live cluster (kubeconfig or in-cluster)")
    audit_cmd.add_argument("--namespace", help="with --cluster: only this namespace")
    _input_options(audit_cmd)

    mutate_cmd = commands.add_parser("mutate", help="print manifests as the mutating webhook would store them")
    mutate_cmd.add_argument("paths", nargs="*", metavar="PATH", help="files or folders; - or nothing reads stdin")
    mutate_cmd.add_argument("--settings", type=Path, help="settings YAML file")
    mutate_cmd.add_argument("--diff", action="store_true", help="print a unified diff instead of the documents")
    mutate_cmd.add_argument(
        "--check", action="store_true", help="print nothing; exit 1 when the output would differ from the input"
    )
    _input_options(mutate_cmd)

    _add_check_config(commands)
    _add_drill(commands)

    _add_validators(commands)

    commands.add_parser("policies", help="list the policies: id, default severity, summary")
    explain_cmd = commands.add_parser("explain", help="print one policy's documentation")
    explain_cmd.add_argument("policy_id", metavar="POLICY-ID", help="a policy id (`haproxy-guard policies` lists them)")

    export_cmd = commands.add_parser(
        "export", help="write the core rules as ValidatingAdmissionPolicies (CEL), enforced with no webhook"
    )
    export_cmd.add_argument(
        "--format", default="validating-admission-policy", choices=["validating-admission-policy"], help="output format"
    )
    export_cmd.add_argument("--settings", type=Path, help="settings YAML file (thresholds, severities, mode)")

    certs = commands.add_parser("certs", help="certificate tools")
    certs_commands = certs.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    generate_cmd = certs_commands.add_parser("generate", help="write ca.crt, tls.crt and tls.key")
    generate_cmd.add_argument("--out", type=Path, required=True, help="output folder")
    generate_cmd.add_argument("--service", help="Service name: adds NAME, NAME.NS, NAME.NS.svc")
    generate_cmd.add_argument("--namespace", default="haproxy-guard", help="Service namespace (default haproxy-guard)")
    generate_cmd.add_argument("--dns", action="append", default=[], help="extra DNS name (repeatable)")
    generate_cmd.add_argument("--ip", action="append", default=[], help="extra IP address (repeatable)")
    generate_cmd.add_argument("--days", type=int, default=365, help="serving certificate validity (default 365)")

    rotate_cmd = certs_commands.add_parser(
        "rotate", help="create or renew the webhook certificate (one safe step; run it daily, e.g. from a CronJob)"
    )
    target = rotate_cmd.add_mutually_exclusive_group(required=True)
    target.add_argument("--dir", type=Path, help="a folder laid out like a mounted Secret")
    target.add_argument("--secret", help="the Secret (in --namespace) holding the certificate")
    rotate_cmd.add_argument("--namespace", default="haproxy-guard", help="namespace of the Secret and Service")
    rotate_cmd.add_argument("--service", default="haproxy-guard", help="Service name: NAME, NAME.NS, NAME.NS.svc")
    rotate_cmd.add_argument("--dns", action="append", default=[], help="extra DNS name (repeatable)")
    rotate_cmd.add_argument("--ip", action="append", default=[], help="extra IP address (repeatable)")
    rotate_cmd.add_argument(
        "--webhook-configuration", action="append", default=[], help="webhook configuration whose caBundle to set"
    )
    rotate_cmd.add_argument("--days", type=int, default=365, help="serving certificate validity (default 365)")
    rotate_cmd.add_argument("--renew-before-days", type=int, default=30, help="renew this long before expiry (30)")
    rotate_cmd.add_argument("--ca-days", type=int, default=3650, help="CA validity (default 3650)")
    rotate_cmd.add_argument(
        "--ca-renew-before-days", type=int, default=180, help="start a CA roll-over this early (180)"
    )
    return parser
