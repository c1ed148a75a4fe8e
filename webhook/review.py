"""The `admission.k8s.io/v1` AdmissionReview wire format: parsing a request and building a response.

Parsing is strict where a wrong value would make the answer meaningless (apiVersion, kind, uid, operation,
an object for CREATE/UPDATE), and every field of the object the engine reads must have its Kubernetes type
(`policies.model.shapes`); anything else is left alone, so that newer API servers adding fields still work.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from haproxy_guard.policies.model.json_text import wire_json
from haproxy_guard.policies.model.shapes import ShapeError, check_shape

ADMISSION_API_VERSION = "admission.k8s.io/v1"
OPERATIONS: Final = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
WRITE_OPERATIONS: Final = frozenset({"CREATE", "UPDATE"})
MAX_UID_CHARS = 256
_LONG_INTEGER = re.compile(rb"(?<![0-9.eE+\-])-?[0-9]{19,}\s*(?:[,\]}]|$)")
"""An integer of 19 digits or more, where JSON ends a number (a comma, a bracket, a brace, the end): maybe
beyond 64 bits. A string holding such text matches too (the model then reads the review, only slower).
The expression costs about 40 ns a byte, so it only runs when 19 digits in a row appear at all (a
translation and a substring search, a few ns a byte)."""
_DIGITS_AS_ZERO = bytes(48 if 48 <= byte <= 57 else 120 for byte in range(256))
_NINETEEN_DIGITS = b"0" * 19
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class BadReview(Exception):
    """The request itself is malformed or unsupported (HTTP 400), as opposed to a denied object."""


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of `request` the webhook reads (anything else in it is ignored)."""

    uid: str
    kind: GroupVersionKind
    namespace: str | None
    name: str | None
    operation: Operation
    object: dict[str, Any] | None
    old_object: dict[str, Any] | None
    dry_run: bool | None


class _KindSchema(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    group: str = ""
    version: str
    kind: str


class _RequestSchema(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    uid: str = Field(min_length=1, max_length=MAX_UID_CHARS)
    kind: _KindSchema
    namespace: str | None = None
    name: str | None = None
    operation: Operation
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool | None = Field(default=None, alias="dryRun")

    @model_validator(mode="after")
    def _object_when_writing(self) -> _RequestSchema:
        if self.operation in WRITE_OPERATIONS and self.object is None:
            raise ValueError(f"request.object is required for {self.operation}")
        return self

    def request(self) -> AdmissionRequest:
        kind = GroupVersionKind(self.kind.group, self.kind.version, self.kind.kind)
        return AdmissionRequest(
            self.uid, kind, self.namespace, self.name, self.operation, self.object, self.old_object, self.dry_run
        )


class _ReviewSchema(BaseModel):
    """The definition of a well-formed review: every request the fast path refuses is judged (and, in
    pydantic's lax mode, coerced) by this model, whose errors name the field."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    api_version: Literal["admission.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["AdmissionReview"]
    request: _RequestSchema


def _short_reason(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_context=False, include_input=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{location}: {first['msg']}"


def _optional(value: Any, kind: type) -> bool:
    return value is None or type(value) is kind


def _exact_request(body: bytes) -> AdmissionRequest | None:
    """The request when every field the webhook reads has exactly its JSON type (what API servers send);
    None for anything else, which `_ReviewSchema` then judges. Its answer is always `_ReviewSchema`'s (a
    generated test compares them): this path only skips the model, which costs about as much as
    parsing the JSON itself on every admission."""
    if _NINETEEN_DIGITS in body.translate(_DIGITS_AS_ZERO) and _LONG_INTEGER.search(body) is not None:
        return None  # orjson reads an integer beyond 64 bits as a float; the model keeps it exact
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(review) is not dict or review.get("apiVersion") != ADMISSION_API_VERSION:
        return None
    request = review.get("request")
    if review.get("kind") != "AdmissionReview" or type(request) is not dict:
        return None
    uid, kind, operation = request.get("uid"), request.get("kind"), request.get("operation")
    if type(uid) is not str or not 0 < len(uid) <= MAX_UID_CHARS or type(kind) is not dict:
        return None
    group, version, kind_name = kind.get("group", ""), kind.get("version"), kind.get("kind")
    if type(group) is not str or type(version) is not str or type(kind_name) is not str:
        return None
    if type(operation) is not str or operation not in OPERATIONS:
        return None
    namespace, name, dry_run = request.get("namespace"), request.get("name"), request.get("dryRun")
    obj, old_obj = request.get("object"), request.get("oldObject")
    if not (_optional(namespace, str) and _optional(name, str) and _optional(dry_run, bool)):
        return None
    if not (_optional(obj, dict) and _optional(old_obj, dict)) or (obj is None and operation in WRITE_OPERATIONS):
        return None
    return AdmissionRequest(
        uid, GroupVersionKind(group, version, kind_name), namespace, name, cast("Operation", operation), obj,
        old_obj, dry_run,
    )  # fmt: skip


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an `admission.k8s.io/v1` AdmissionReview, or BadReview with a short reason."""
    if not body:
        raise BadReview("empty body: expected an admission.k8s.io/v1 AdmissionReview")
    request = _exact_request(body)
    if request is None:
        try:
            request = _ReviewSchema.model_validate_json(body).request.request()
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
