"""The `haproxy-guard` command line: `serve`, `audit`, `mutate`, `check-config`, `drill` and `certs`.

Exit codes: 0 success, 1 findings (audit/mutate), 2 bad input or usage, always with a one-line reason
on stderr and never a traceback for the user's mistakes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from haproxy_guard.cli.arguments import build_parser
from haproxy_guard.cli.check_config import CheckConfigError, check_files, parse_env
from haproxy_guard.cli.commands import MutateOptions, run_audit, run_mutate
from haproxy_guard.cli.manifests import Document, ManifestError
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy import binary_facts
from haproxy_guard.policies.haproxy.validator import Validator, build_validator
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.settings_file import SettingsError, load_settings

if TYPE_CHECKING:  # the webhook's modules are imported by the commands that use them, not by `audit`
    from haproxy_guard.webhook.admission import Admission

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
KEEPS_BINARY_FACTS = frozenset({"audit", "mutate", "check-config", "drill"})
"""Short-lived commands keep what they learn of the validator binaries for the next run (`binary_facts`);
the webhook and the checker live long enough to learn it once."""


class UsageError(Exception):
    """A problem with the command line or its inputs: reported on one line, exit code 2."""


def _drill(args: argparse.Namespace) -> int:
    from haproxy_guard.drill.command import DrillRequest, run_drill  # noqa: PLC0415
    from haproxy_guard.drill.load import LoadShape  # noqa: PLC0415
    from haproxy_guard.drill.prepare import DrillError  # noqa: PLC0415
    from haproxy_guard.drill.scenarios import SCENARIOS, Options  # noqa: PLC0415

    if not 0 <= args.endpoint_lag <= 120 or not 1 <= args.rate <= 5000 or not 0 < args.stream_seconds <= 600:
        raise UsageError("--endpoint-lag 0-120, --rate 1-5000 and --stream-seconds up to 600")
    if not args.path.startswith("/") or any(char.isspace() for char in args.path + args.host) or not args.host:
        raise UsageError("--path starts with / and --host is a name; neither may hold blanks")
    settings = load_settings(args.settings)
    request = DrillRequest(
        args.paths,
        SCENARIOS if args.scenario == "all" else (args.scenario,),
        args.runs,
        args.format,
        args.plot,
        args.haproxy_version,
        Options(args.endpoint_lag, LoadShape(rate=args.rate, host=args.host, path=args.path), args.stream_seconds),
    )
    try:
        return run_drill(request, settings, make_validator(settings))
    except DrillError as error:
        raise UsageError(str(error)) from None


def _validators(args: argparse.Namespace) -> int:
    import os  # noqa: PLC0415

    from haproxy_guard.policies.haproxy import validators_install as installer  # noqa: PLC0415
    from haproxy_guard.policies.haproxy.validator import VALIDATORS_DIR_ENV, discover_binaries  # noqa: PLC0415

    if args.validators_command == "list":
        for branch, where in installer.listing():
            print(f"HAProxy {branch}: {where}")
        return EXIT_OK
    pinned = installer.pins()
    branches = args.branch or [branch for branch in pinned if branch not in discover_binaries()]
    unknown = [branch for branch in branches if branch not in pinned]
    if unknown:
        raise UsageError(f"--branch {', '.join(unknown)}: pinned branches are {', '.join(pinned)}")
    env_dest = os.environ.get(VALIDATORS_DIR_ENV)
    dest = args.dest or (Path(env_dest) if env_dest else installer.default_dest())
    for branch in branches:
        try:
            binary = installer.install(branch, dest, args.mirror)
        except installer.InstallError as error:
            raise UsageError(f"validators install: {error}") from None
        print(f"HAProxy {branch}: {binary}")
    if not branches:
        print("every pinned validator is installed (haproxy-guard validators list)")
    return EXIT_OK


def _certificate_names(service: str | None, namespace: str, dns: Sequence[str], ips: Sequence[str]) -> list[str]:
    from haproxy_guard.certs.authority import DEFAULT_NAMES, service_names  # noqa: PLC0415  (cryptography: 80 ms)

    names = [*(service_names(service, namespace) if service else []), *dns, *ips]
    return names or list(DEFAULT_NAMES)


def _generate(args: argparse.Namespace) -> int:
    from haproxy_guard.certs.authority import generate  # noqa: PLC0415

    try:
        files = generate(args.out, _certificate_names(args.service, args.namespace, args.dns, args.ip), args.days)
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {files.ca_cert}, {files.cert} and {files.key}")
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    from haproxy_guard.certs.rotation import Policy  # noqa: PLC0415
    from haproxy_guard.certs.stores import FolderStore, KubernetesStore, Store, rotate  # noqa: PLC0415

    names = _certificate_names(args.service, args.namespace, args.dns, args.ip)
    if args.days < 1 or args.renew_before_days >= args.days or args.ca_renew_before_days >= args.ca_days:
        raise UsageError("renewal periods must be shorter than the validity (--renew-before-days < --days)")
    policy = Policy(tuple(names), args.days, args.renew_before_days, args.ca_days, args.ca_renew_before_days)
    store: Store
    if args.dir:
        store = FolderStore(args.dir)
    else:
        from haproxy_guard.webhook.cluster import api_client  # noqa: PLC0415

        client = api_client()
        if client is None:
            raise UsageError("no Kubernetes API configuration found (kubeconfig or in-cluster service account)")
        store = KubernetesStore(client, args.namespace, args.secret, args.webhook_configuration)
    result = rotate(store, policy)
    print(f"{'changed' if result.changed else 'unchanged'}: {result.reason}")
    return EXIT_OK


def _serving_files(args: argparse.Namespace) -> tuple[Path, Path]:
    from haproxy_guard.certs.authority import CERT_FILE, DEFAULT_NAMES, KEY_FILE, generate  # noqa: PLC0415

    if args.cert_dir and (args.tls_cert or args.tls_key):
        raise UsageError("use either --cert-dir or --tls-cert/--tls-key, not both")
    if args.cert_dir:
        cert, key = args.cert_dir / CERT_FILE, args.cert_dir / KEY_FILE
        if args.self_signed and not cert.exists() and not key.exists():
            generate(args.cert_dir, list(DEFAULT_NAMES))
            print(f"created a self-signed CA and serving certificate in {args.cert_dir}", file=sys.stderr)
        return cert, key
    if args.self_signed:
        raise UsageError("--self-signed needs --cert-dir (where to create the certificate)")
    if not (args.tls_cert and args.tls_key):
        raise UsageError("HTTPS only: give --cert-dir DIR or both --tls-cert and --tls-key")
    return args.tls_cert, args.tls_key


def _effective_settings(settings: Settings, client: Any | None) -> Settings:
    """The settings with the cluster's version filled in from the API server, when unset and allowed."""
    if settings.kubernetes_version is None and settings.discover_kubernetes_version:
        from haproxy_guard.webhook.cluster import discover_kubernetes_version  # noqa: PLC0415

        version = discover_kubernetes_version(client)
        if version is not None:
            return settings.model_copy(update={"kubernetes_version": version})
    return settings


def make_validator(
    settings: Settings, checker_socket: Path | None = None, *, in_checker: bool = False
) -> Validator | None:
    """The validator of these settings; with `checker_socket`, one whose checks run in the checker container;
    `in_checker`: the checker container's own, which runs code-loading configurations (`codeLoading`)."""
    try:
        validator = build_validator(
            settings.validators or None,
            settings.default_haproxy_version,
            settings.validator_timeout_seconds,
            settings.validator_concurrency,
            settings.validator_sandbox,
            run_code=in_checker and settings.code_loading == "check",
        )
    except ValueError as error:
        raise UsageError(f"validators: {error}") from None
    if validator is None or checker_socket is None:
        return validator
    from haproxy_guard.webhook.checker import RemoteValidator  # noqa: PLC0415

    return RemoteValidator(
        checker_socket,
        validator.binaries,
        default_version=validator.default_version,
        timeout_seconds=validator.timeout_seconds,
        max_concurrent=settings.validator_concurrency,
        sandbox_mode=validator.sandbox_mode,
    )


def _admission(settings: Settings, client: Any | None, checker_socket: Path | None = None) -> Admission:
    """The webhook's decisions: the validator, and the API server (when reachable) for the objects around."""
    from haproxy_guard.webhook.admission import Admission  # noqa: PLC0415
    from haproxy_guard.webhook.configmaps import ClusterConfigMaps, ClusterPdbs  # noqa: PLC0415
    from haproxy_guard.webhook.stale import ClusterStaleWorkloads  # noqa: PLC0415

    validator = make_validator(settings, checker_socket)
    if client is None:
        return Admission(settings, Context(validator))
    mounts = ClusterStaleWorkloads(client, settings)
    context = Context(validator, ClusterConfigMaps(client), ClusterPdbs(client), mounters=mounts.mounters)
    return Admission(settings, context, None if settings.rollout_controller.enabled else mounts)


def _checker(args: argparse.Namespace) -> int:
    from haproxy_guard.webhook.checker import serve_checker  # noqa: PLC0415
    from haproxy_guard.webhook.observability import configure_json_logging  # noqa: PLC0415

    configure_json_logging()
    validator = make_validator(load_settings(args.settings), in_checker=True)
    if validator is None:
        raise UsageError("checker: no HAProxy validator binary found")
    serve_checker(args.socket, validator)
    return EXIT_OK


def _manifests(args: argparse.Namespace, documents: Iterator[Document] | None = None) -> int:
    settings = load_settings(args.settings)
    validator = make_validator(settings)
    if args.command == "mutate":
        options = MutateOptions(args.diff, args.check, args.allow_empty, tuple(args.exclude))
        return run_mutate(args.paths, settings, validator, options)
    if args.cluster:
        if args.paths:
            raise UsageError("--cluster reads the cluster: give no PATH")
        from haproxy_guard.cli.cluster_audit import ClusterError, run_cluster_audit  # noqa: PLC0415

        try:
            return run_cluster_audit(settings, validator, args.format, args.namespace)
        except ClusterError as error:
            raise UsageError(str(error)) from None
    if args.namespace:
        raise UsageError("--namespace goes with --cluster")
    if args.format == "policyreport":
        raise UsageError("--format policyreport goes with --cluster")
    return run_audit(
        args.paths, settings, validator, args.format, documents, allow_empty=args.allow_empty, exclude=args.exclude
    )


def _serve(args: argparse.Namespace) -> int:
    from haproxy_guard.certs.reloader import CertificateError  # noqa: PLC0415
    from haproxy_guard.webhook.cluster import api_client  # noqa: PLC0415
    from haproxy_guard.webhook.observability import configure_json_logging  # noqa: PLC0415
    from haproxy_guard.webhook.server import ServeOptions, serve  # noqa: PLC0415  (uvicorn only for this command)

    configure_json_logging()
    cert, key = _serving_files(args)
    client = api_client()  # one client: the version at start-up, ConfigMaps and PDBs while serving
    settings = _effective_settings(load_settings(args.settings), client)
    admission = _admission(settings, client, args.checker_socket)
    rollouts = None
    if client is not None and settings.rollout_controller.enabled:
        from haproxy_guard.webhook.rollouts.controller import RolloutController  # noqa: PLC0415

        rollouts = RolloutController(client, settings, admission.context.validator)
    try:
        options = ServeOptions(args.host, args.port, cert, key, args.cert_poll_seconds, args.metrics_port)
        serve(admission, options, rollouts)
    except CertificateError as error:
        raise UsageError(str(error)) from None
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace, documents: Iterator[Document] | None = None) -> int:
    """The command `args` asks for; `documents`: the audit's input, already being read (`cli.entry`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in KEEPS_BINARY_FACTS:
        binary_facts.enable()
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "checker":
            return _checker(args)
        if args.command == "check-config":
            return check_files(
                args.files,
                args.haproxy,
                args.haproxy_version,
                args.all_versions,
                env=parse_env(args.env),
                closed_env=args.closed_env,
            )
        if args.command in {"audit", "mutate"}:
            return _manifests(args, documents)
        if args.command == "drill":
            return _drill(args)
        if args.command == "validators":
            return _validators(args)
        if args.command in {"policies", "explain"}:
            from haproxy_guard.cli.policies import UnknownPolicyError, explain_policy, list_policies  # noqa: PLC0415

            try:
                print(list_policies() if args.command == "policies" else explain_policy(args.policy_id), end="")
            except UnknownPolicyError as error:
                raise UsageError(str(error)) from None
            return EXIT_OK
        if args.command == "export":
            from haproxy_guard.policies.cel import validating_admission_policies  # noqa: PLC0415

            objects = validating_admission_policies(load_settings(args.settings))
            print(yaml.safe_dump_all(objects, sort_keys=False, width=1000), end="")
            return EXIT_OK
        if args.certs_command == "rotate":
            return _rotate(args)
        return _generate(args)
    except (UsageError, SettingsError, CheckConfigError, ManifestError) as error:
        print(f"haproxy-guard: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
