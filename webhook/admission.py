"""Admission decisions: an AdmissionRequest in, an AdmissionReview reply out, through the shared engine.

`/mutate` answers with the engine's patch; `/validate` denies deny-level findings (none in audit mode)
and returns the rest as warnings. Both report opt-outs. DELETE and CONNECT are always allowed.
"""

from __future__ import annotations

from typing import Any

from policies import engine
from policies.findings import Finding, Severity
from policies.settings import Settings
from webhook.review import AdmissionRequest, response_review

WRITE_OPERATIONS = frozenset({"CREATE", "UPDATE"})
MAX_WARNING_CHARS = 256  # the API server may truncate longer warnings


def warning_text(finding: Finding) -> str:
    text = f"[{finding.policy}] {finding.message}"
    return text if len(text) <= MAX_WARNING_CHARS else text[: MAX_WARNING_CHARS - 1] + "…"


def _denial_message(findings: tuple[Finding, ...]) -> str:
    first = findings[0]
    where = f"{first.kind} {first.namespace + '/' if first.namespace else ''}{first.name}"
    reasons = "; ".join(f"[{finding.policy}] {finding.message}" for finding in findings)
    return f"haproxy-guard denied {where}: {reasons}"


def _policy_list(findings: tuple[Finding, ...], severity: Severity) -> str:
    return ",".join(sorted({finding.policy for finding in findings if finding.severity is severity}))


def mutate(request: AdmissionRequest, settings: Settings) -> dict[str, Any]:
    if request.operation not in WRITE_OPERATIONS or request.object is None:
        return response_review(request.uid)
    mutation = engine.mutate(request.object, settings, namespace=request.namespace, operation=request.operation)
    annotations = {"mutated-by": ",".join(mutation.changed_by)} if mutation.changed_by else None
    return response_review(
        request.uid,
        patch=mutation.patch,
        warnings=[warning_text(finding) for finding in mutation.findings],
        audit_annotations=annotations,
    )


def validate(request: AdmissionRequest, settings: Settings) -> dict[str, Any]:
    if request.operation not in WRITE_OPERATIONS or request.object is None:
        return response_review(request.uid)
    evaluation = engine.check(request.object, settings, namespace=request.namespace)
    if not evaluation.findings:
        return response_review(request.uid)
    denied = evaluation.denied
    annotations = {
        key: value
        for key, value in (
            ("denied-by", _policy_list(evaluation.findings, Severity.DENY)),
            ("warned-by", _policy_list(evaluation.findings, Severity.WARN)),
        )
        if value
    }
    return response_review(
        request.uid,
        allowed=not denied,
        message=_denial_message(denied) if denied else None,
        warnings=[warning_text(finding) for finding in evaluation.warned],
        audit_annotations=annotations,
    )
