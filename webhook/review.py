"""The `admission.k8s.io/v1` AdmissionReview wire format: parsing a request and building a response.

Parsing is strict where a wrong value would make the answer meaningless (apiVersion, kind, uid, operation,
an object for CREATE/UPDATE), and every field of the object the engine reads must have its Kubernetes type
(`policies.model.shapes`); anything else is left alone, so that newer API servers adding fields still work.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from haproxy_guard.policies.model.json_text import wire_json
from haproxy_guard.policies.model.shapes import ShapeError, check_shape

ADMISSION_API_VERSION = "admission.k8s.io/v1"


class BadReview(Exception):
    """The request itself is malformed or unsupported (HTTP 400), as opposed to a denied object."""


class GroupVersionKind(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    group: str = ""
    version: str
    kind: str


class AdmissionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    uid: str = Field(min_length=1, max_length=256)
    kind: GroupVersionKind
    namespace: str | None = None
    name: str | None = None
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool | None = Field(default=None, alias="dryRun")

    @model_validator(mode="after")
    def _object_when_writing(self) -> AdmissionRequest:
        if self.operation in {"CREATE", "UPDATE"} and self.object is None:
            raise ValueError(f"request.object is required for {self.operation}")
        return self


class AdmissionReview(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    api_version: Literal["admission.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


def _short_reason(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_context=False, include_input=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an `admission.k8s.io/v1` AdmissionReview, or BadReview with a short reason."""
    if not body:
        raise BadReview("empty body: expected an admission.k8s.io/v1 AdmissionReview")
    try:
        request = AdmissionReview.model_validate_json(body).request
    except ValidationError as error:
        raise BadReview(f"not an admission.k8s.io/v1 AdmissionReview ({_short_reason(error)})") from None
    try:  # every field the engine reads has its Kubernetes type, or the request is refused naming it
        for field, value in (("request.object", request.object), ("request.oldObject", request.old_object)):
            if value is not None:
                check_shape(value, request.kind.kind, field)
    except ShapeError as error:
        raise BadReview(str(error)) from None
    return request


def response_review(
    uid: str,
    *,
    allowed: bool = True,
    message: str | None = None,
    patch: list[dict[str, Any]] | None = None,
    warnings: list[str] | None = None,
    audit_annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An AdmissionReview reply echoing `uid`; patch fields only when there is something to patch."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 403, "reason": "Forbidden", "message": message or "denied by haproxy-guard"}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(wire_json(patch)).decode()
    if warnings:
        response["warnings"] = warnings
    if audit_annotations:
        response["auditAnnotations"] = audit_annotations
    return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}
