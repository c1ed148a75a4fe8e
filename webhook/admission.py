"""Admission decisions: an AdmissionRequest in, an AdmissionReview reply out, through the shared engine.

`/mutate` answers with the engine's patch; `/validate` denies deny-level findings (none in audit mode)
and returns the rest as warnings. Both report opt-outs. DELETE and CONNECT are always allowed. A request
that needs the validator or the API server (a ConfigMap, a workload mounting ConfigMaps) is marked so the
app runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from haproxy_guard.policies import engine
from haproxy_guard.policies.answer_memo import Memo, Read, Recorder, fingerprint, still_current
from haproxy_guard.policies.context import EMPTY_CONTEXT, Context
from haproxy_guard.policies.model.configmap import HAProxyConfigMap, inspect_configmap
from haproxy_guard.policies.model.findings import Finding, Severity
from haproxy_guard.policies.model.json_text import standard_json
from haproxy_guard.policies.model.mounts import configmap_volumes
from haproxy_guard.policies.model.objects import object_identity
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import pod_spec_of
from haproxy_guard.policies.rules import config_hash
from haproxy_guard.webhook.review import WRITE_OPERATIONS, AdmissionRequest, response_review
from haproxy_guard.webhook.stale import stale_warning
from haproxy_guard.webhook.warnings import fit, warning_text

MAX_AUDIT_ANNOTATION_CHARS = 8192  # keeps audit events small; the full list is in the denial or warnings


def _denial_message(kind: str, namespace: str | None, name: str, reasons: str) -> str:
    return f"haproxy-guard denied {kind} {namespace + '/' if namespace else ''}{name}: {reasons}"


def _reasons(findings: tuple[Finding, ...]) -> str:
    return "; ".join(f"[{finding.policy}] {finding.message}" for finding in findings)


def _findings_annotation(findings: tuple[Finding, ...]) -> str:
    """Every finding, as a JSON list of `[policy] (severity) message` for the audit log (audit mode's record)."""
    encoded: list[str] = []  # each entry as `json.dumps` writes it inside the list
    length = 2  # the brackets; entries are joined by ", "
    for position, finding in enumerate(findings):
        entry = standard_json(f"[{finding.policy}] ({finding.severity}) {finding.message}")
        length += len(entry) + (2 if encoded else 0)
        encoded.append(entry)
        if length > MAX_AUDIT_ANNOTATION_CHARS:
            encoded[-1] = standard_json(f"... {len(findings) - position} more")
            break
    return "[" + ", ".join(encoded) + "]"


def _policy_list(findings: tuple[Finding, ...], severity: Severity) -> str:
    return ",".join(sorted({finding.policy for finding in findings if finding.severity is severity}))


def _replaces_hash(obj: dict[str, Any], mutation: engine.Mutation) -> bool:
    """Whether the mutation changes a `config-hash` annotation the object already carries."""
    if config_hash.POLICY_ID not in mutation.changed_by:
        return False
    return config_hash.current_hash((obj.get("spec") or {}).get("template")) is not None


def _mounts_configmaps(obj: dict[str, Any]) -> bool:
    found = pod_spec_of(obj)
    return found is not None and bool(configmap_volumes(found[1]))


@dataclass(frozen=True, slots=True)
class Prepared:
    """What deciding a request needs to know before it starts: whether it may block (run `haproxy -c` or call
    the API server: the app then decides in a thread), and the HAProxy ConfigMap view it made to know."""

    blocking: bool
    configmap: HAProxyConfigMap | None = None


NOT_BLOCKING = Prepared(blocking=False)
_CLUSTER_KINDS = frozenset({"Deployment", "StatefulSet"})  # the kinds whose checks read PodDisruptionBudgets


@dataclass(frozen=True, slots=True)
class _Remembered:
    """An answer kept by fingerprint: what the engine read from the cluster, and the reply without its uid
    (and, for a denial, without the object's name: `denied` holds the reasons after it)."""

    reads: tuple[Read, ...]
    reply: dict[str, Any]
    denied: str | None = None

    def answer(self, request: AdmissionRequest) -> dict[str, Any]:
        """The reply for `request` (its parts are shared between replies: only read, never changed)."""
        response = {"uid": request.uid, **self.reply["response"]}
        if self.denied is not None:
            assert request.object is not None
            name, namespace = object_identity(request.object, request.namespace)
            message = _denial_message(str(request.object.get("kind")), namespace, name, self.denied)
            response["status"] = {**response["status"], "message": message}
        return {**self.reply, "response": response}


def _remembered(reads: list[Read], reply: dict[str, Any], denied: str | None = None) -> _Remembered:
    response = {name: value for name, value in reply["response"].items() if name != "uid"}
    return _Remembered(tuple(reads), {**reply, "response": response}, denied)


def _settled(evaluation: engine.Evaluation) -> bool:
    """Whether the evaluation's answer may be kept: every `haproxy -c` it ran gave a lasting answer (not
    "validator busy" nor a timeout, which a retry may not repeat)."""
    workload = evaluation.workload
    if workload is None:
        return True
    results = (mounted.subject.checked for mounted in workload.configs)
    return all(result is None or result.cacheable for result in results)


@dataclass(frozen=True)
class Admission:
    """Everything a decision needs: settings, the validator and where mounted ConfigMaps come from.

    Both webhooks remember their answers on workloads (`policies/answer_memo.py`): a rollout sends the same
    workload again and again with a new name, labels and image tag, and while the ConfigMaps and PDBs the
    engine read are unchanged it is answered without copying, checking, fixing and diffing it again."""

    settings: Settings
    context: Context = EMPTY_CONTEXT
    stale_workloads: Callable[[str, str], list[str]] | None = None
    """With the rollout controller off: (namespace, ConfigMap) -> the workloads that mount it (`webhook/stale.py`),
    named in a warning when the ConfigMap changes."""
    mutations: Memo[_Remembered] = field(default_factory=Memo, compare=False, repr=False)
    validations: Memo[_Remembered] = field(default_factory=Memo, compare=False, repr=False)

    @cached_property
    def _fixing_context(self) -> Context:
        """What fixes are given: the context without PDBs, which no fix reads (nor needs listed); Services
        and autoscalers are kept (the rollout fix reads an HPA's maxReplicas)."""
        return Context(
            self.context.validator,
            self.context.configmaps,
            None,
            self.context.services,
            self.context.autoscalers,
        )

    def _forget_configmaps(self, namespace: str | None) -> bool:
        """Drop the cached ConfigMaps of `namespace` (the next reads go to the API server); False when the
        source keeps no cache."""
        forget = getattr(self.context.configmaps, "forget", None)
        if forget is None:
            return False
        forget(namespace)
        return True

    def prepare(self, request: AdmissionRequest) -> Prepared:
        """Whether deciding may block, with the ConfigMap view made to know it (`validate` reuses it)."""
        if request.operation not in WRITE_OPERATIONS or request.object is None:
            return NOT_BLOCKING
        if request.object.get("kind") == "ConfigMap":
            # only an HAProxy ConfigMap whose answer is not cached yet runs `haproxy -c` (or, with the rollout
            # controller off, a changed one lists the workloads it leaves stale); any other one is decided at
            # once, without a trip through the thread pool
            validator = self.context.validator
            configmap = inspect_configmap(request.object, request.namespace) if validator else None
            if configmap is None or validator is None:
                return NOT_BLOCKING
            stale = self._names_stale_workloads(request)
            # without a declared version, the branch tried first is that of the workloads mounting it, which
            # are listed from the API server (cached): that may block too
            lists = self.context.mounters is not None and configmap.version is None
            return Prepared(stale or lists or not validator.answered(configmap.bundle(), configmap.version), configmap)
        if self.context.pdbs is not None and request.object.get("kind") in _CLUSTER_KINDS:
            return Prepared(blocking=True)
        return Prepared(self.context.configmaps is not None and _mounts_configmaps(request.object))

    def mutate(self, request: AdmissionRequest, prepared: Prepared = NOT_BLOCKING) -> dict[str, Any]:
        """The reply with the patch; `prepared` as for `validate` (no ConfigMap is ever mutated)."""
        if request.operation not in WRITE_OPERATIONS or request.object is None:
            return response_review(request.uid)
        obj = request.object

        def decide(context: Context) -> tuple[dict[str, Any], str | None, bool]:
            mutation = engine.mutate(
                obj, self.settings, namespace=request.namespace, operation=request.operation, context=context
            )
            if _replaces_hash(obj, mutation) and self._forget_configmaps(request.namespace):
                # about to overwrite a digest someone wrote (the rollout controller, from the API server's
                # state now): never with one from a cached ConfigMap older than theirs; read them again
                mutation = engine.mutate(
                    obj, self.settings, namespace=request.namespace, operation=request.operation, context=context
                )
            annotations = {"mutated-by": ",".join(mutation.changed_by)} if mutation.changed_by else None
            reply = response_review(
                request.uid,
                patch=mutation.patch,
                warnings=fit(warning_text(finding) for finding in mutation.findings),
                audit_annotations=annotations,
            )
            return reply, None, True

        return self._remembering(self.mutations, request, self._fixing_context, decide, pod_labels=False)

    def _names_stale_workloads(self, request: AdmissionRequest) -> bool:
        """Whether this is a changed ConfigMap whose readers the warning names (the rollout controller off)."""
        return (
            self.stale_workloads is not None
            and not self.settings.rollout_controller.enabled
            and request.operation == "UPDATE"
            and request.old_object is not None
            and request.object is not None
            and request.object.get("kind") == "ConfigMap"
            and (request.old_object.get("data"), request.old_object.get("binaryData"))
            != (request.object.get("data"), request.object.get("binaryData"))
        )

    def validate(self, request: AdmissionRequest, prepared: Prepared = NOT_BLOCKING) -> dict[str, Any]:
        if request.operation not in WRITE_OPERATIONS or request.object is None:
            return response_review(request.uid)
        reply = self._validate(request, prepared)
        if prepared.configmap is not None and self._names_stale_workloads(request) and self.stale_workloads:
            name, namespace = object_identity(request.object, request.namespace)
            stale = self.stale_workloads(namespace or "default", name)
            response = reply["response"]
            if stale and response.get("allowed", True):
                warning = stale_warning(namespace or "default", name, stale)
                reply = {**reply, "response": {**response, "warnings": fit([warning, *response.get("warnings", [])])}}
        return reply

    def _validate(self, request: AdmissionRequest, prepared: Prepared) -> dict[str, Any]:
        assert request.object is not None
        obj = request.object

        def decide(context: Context) -> tuple[dict[str, Any], str | None, bool]:
            evaluation = engine.check(
                obj, self.settings, namespace=request.namespace, context=context, configmap=prepared.configmap
            )
            return (*self._validation_reply(request.uid, evaluation), _settled(evaluation))

        # the pod template's labels matter only to the PDB check, which needs the namespace's PDBs
        pod_labels = self.context.pdbs is not None
        return self._remembering(self.validations, request, self.context, decide, pod_labels=pod_labels)

    def _remembering(
        self,
        memo: Memo[_Remembered],
        request: AdmissionRequest,
        context: Context,
        decide: Callable[[Context], tuple[dict[str, Any], str | None, bool]],
        *,
        pod_labels: bool,
    ) -> dict[str, Any]:
        """`decide(context)`'s reply (the reply, a denial's reasons, whether it may be kept), or the one kept
        for the object's fingerprint while what it read from `context` is unchanged. Only workloads have a
        fingerprint: anything else is always decided afresh."""
        assert request.object is not None
        key = (
            fingerprint(
                request.object,
                request.namespace,
                request.operation,
                self.settings.image_patterns,
                pod_labels=pod_labels,
                name=context.autoscalers is not None,
            )
            if memo.consulted()
            else None
        )
        if key is None:
            return decide(context)[0]
        remembered = memo.get(key)
        if remembered is not None and still_current(remembered.reads, context):
            return remembered.answer(request)
        recorder = Recorder(context)
        reply, denied, lasting = decide(recorder.context)
        if lasting:
            memo.put(key, _remembered(recorder.reads, reply, denied))
        return reply

    def _validation_reply(self, uid: str, evaluation: engine.Evaluation) -> tuple[dict[str, Any], str | None]:
        """The reply, and for a denial the reasons its message gives after the object's name."""
        if not evaluation.findings:
            return response_review(uid), None
        denied = evaluation.denied
        annotations = {
            key: value
            for key, value in (
                ("denied-by", _policy_list(evaluation.findings, Severity.DENY)),
                ("warned-by", _policy_list(evaluation.findings, Severity.WARN)),
            )
            if value
        }
        annotations["findings"] = _findings_annotation(evaluation.findings)
        reasons = _reasons(denied) if denied else None
        first = denied[0] if denied else None
        reply = response_review(
            uid,
            allowed=not denied,
            message=_denial_message(first.kind, first.namespace, first.name, reasons) if first and reasons else None,
            warnings=fit(warning_text(finding) for finding in evaluation.warned),
            audit_annotations=annotations,
        )
        return reply, reasons
