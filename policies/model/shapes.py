"""The types of every field the engine reads, checked where an object enters (the webhook, the CLI), so no
policy ever sees a value of the wrong type: `containers[0].name: []` is refused as
`spec.template.spec.containers[0].name: expected string`, never a crash.

Only the fields the engine reads are described (their Kubernetes types, cross-checked against Kubernetes'
own schemas by the tests); any other field passes untouched, and `null` is accepted everywhere (the API
server sends `creationTimestamp: null`), so an object the API server accepts is never refused here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Shape = Any
"""A type name (`string`, `integer`, `boolean`, `int-or-string`, `quantity`), `{"field": Shape}` for an
object, `[Shape]` for an array, or `{"*": Shape}` for a map with any keys."""


class ShapeError(ValueError):
    """A field has a value of the wrong type: `path: expected ...`."""

    def __init__(self, path: str, expected: str) -> None:
        super().__init__(f"{path}: expected {expected}")
        self.path = path


STRINGS: Shape = {"*": "string"}
KEY_SELECTOR: Shape = {"name": "string", "key": "string", "optional": "boolean"}
REFERENCE: Shape = {"name": "string", "optional": "boolean"}
METADATA: Shape = {"name": "string", "generateName": "string", "namespace": "string", "labels": STRINGS,
                   "annotations": STRINGS}  # fmt: skip
PROBE: Shape = {
    "httpGet": {"path": "string", "port": "int-or-string", "scheme": "string", "host": "string"},
    "tcpSocket": {"port": "int-or-string"},
    "grpc": {"port": "integer"},
    "exec": {"command": ["string"]},
    "initialDelaySeconds": "integer",
    "periodSeconds": "integer",
    "timeoutSeconds": "integer",
    "failureThreshold": "integer",
    "successThreshold": "integer",
    "terminationGracePeriodSeconds": "integer",
}
HANDLER: Shape = {
    "exec": {"command": ["string"]},
    "sleep": {"seconds": "integer"},
    "httpGet": {"path": "string", "port": "int-or-string", "scheme": "string", "host": "string"},
    "tcpSocket": {"port": "int-or-string"},
}
CONTAINER: Shape = {
    "name": "string",
    "image": "string",
    "command": ["string"],
    "args": ["string"],
    "workingDir": "string",
    "ports": [{"containerPort": "integer", "hostPort": "integer", "name": "string", "protocol": "string"}],
    "env": [
        {
            "name": "string",
            "value": "string",
            "valueFrom": {"configMapKeyRef": KEY_SELECTOR, "secretKeyRef": KEY_SELECTOR},
        }
    ],
    "envFrom": [{"prefix": "string", "configMapRef": REFERENCE, "secretRef": REFERENCE}],
    "volumeMounts": [{"name": "string", "mountPath": "string", "subPath": "string", "readOnly": "boolean"}],
    "resources": {"limits": {"*": "quantity"}, "requests": {"*": "quantity"}},
    "lifecycle": {"preStop": HANDLER, "postStart": HANDLER},
    "readinessProbe": PROBE,
    "livenessProbe": PROBE,
    "startupProbe": PROBE,
}
ITEMS: Shape = [{"key": "string", "path": "string", "mode": "integer"}]
CONFIGMAP_SOURCE: Shape = {"name": "string", "items": ITEMS, "optional": "boolean"}
VOLUME: Shape = {
    "name": "string",
    "configMap": CONFIGMAP_SOURCE,
    "secret": {"secretName": "string", "items": ITEMS, "optional": "boolean"},
    "projected": {"sources": [{"configMap": CONFIGMAP_SOURCE, "secret": {"name": "string", "items": ITEMS}}]},
}
POD_SPEC: Shape = {
    "containers": [CONTAINER],
    "initContainers": [CONTAINER],
    "volumes": [VOLUME],
    "terminationGracePeriodSeconds": "integer",
    "hostNetwork": "boolean",
}
TEMPLATE: Shape = {"metadata": METADATA, "spec": POD_SPEC}
SELECTOR: Shape = {
    "matchLabels": STRINGS,
    "matchExpressions": [{"key": "string", "operator": "string", "values": ["string"]}],
}
WORKLOAD_SPEC: Shape = {"replicas": "integer", "minReadySeconds": "integer", "selector": SELECTOR, "template": TEMPLATE}
DEPLOYMENT_SPEC: Shape = {
    **WORKLOAD_SPEC,
    "strategy": {"type": "string", "rollingUpdate": {"maxSurge": "int-or-string", "maxUnavailable": "int-or-string"}},
}
STATEFULSET_SPEC: Shape = {
    **WORKLOAD_SPEC,
    "podManagementPolicy": "string",
    "updateStrategy": {"type": "string", "rollingUpdate": {"maxUnavailable": "int-or-string", "partition": "integer"}},
}
DAEMONSET_SPEC: Shape = {
    "minReadySeconds": "integer",
    "selector": SELECTOR,
    "template": TEMPLATE,
    "updateStrategy": {
        "type": "string",
        "rollingUpdate": {"maxSurge": "int-or-string", "maxUnavailable": "int-or-string"},
    },
}
SHAPES: Mapping[str, Shape] = {
    "Deployment": {"metadata": METADATA, "spec": DEPLOYMENT_SPEC},
    "StatefulSet": {"metadata": METADATA, "spec": STATEFULSET_SPEC},
    "DaemonSet": {"metadata": METADATA, "spec": DAEMONSET_SPEC},
    "Pod": {"metadata": METADATA, "spec": POD_SPEC},
    "ConfigMap": {"metadata": METADATA, "data": STRINGS, "binaryData": STRINGS},
    "PodDisruptionBudget": {"metadata": METADATA, "spec": {"selector": SELECTOR, "minAvailable": "int-or-string",
                                                            "maxUnavailable": "int-or-string"}},
}  # fmt: skip
ANY_OBJECT: Shape = {"metadata": METADATA}
"""Any other kind: only its metadata is read (to name it in logs and answers)."""
MAX_INTEGER = 2**63 - 1
_NAMES = {"string": "string", "integer": "integer", "boolean": "boolean", "int-or-string": "integer or string",
          "quantity": "quantity (string or number)"}  # fmt: skip


def check_shape(obj: Any, kind: str, path: str = "") -> None:
    """Raise `ShapeError` naming the first field of `obj` (of `kind`) whose value has the wrong type."""
    if not isinstance(obj, dict):
        raise ShapeError(path or "object", "object")
    shape = SHAPES.get(kind, ANY_OBJECT)
    if _compiled(shape)(obj):
        return  # the common case, in straight-line code; the walk below finds and names what is wrong
    try:
        _check(obj, shape)
    except _Mismatch as mismatch:
        where = path
        for part in reversed(mismatch.parts):
            where = f"{where}{part}" if part.startswith("[") else _join(where, part)
        raise ShapeError(where or "object", mismatch.expected) from None


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


class _Mismatch(Exception):
    """A wrong type found: what was expected, and the path back up to the object (innermost first). Paths are
    built only when something is wrong, so a valid object costs no string work."""

    def __init__(self, expected: str) -> None:
        self.expected, self.parts = expected, list[str]()


def _check(value: Any, shape: Shape) -> None:  # one branch per shape form
    if value is None:
        return
    if shape.__class__ is str:
        if not _SCALARS[shape](value):
            raise _Mismatch(_NAMES[shape])
    elif shape.__class__ is list:
        if value.__class__ is not list:
            raise _Mismatch("array")
        inner = shape[0]
        for index, item in enumerate(value):
            try:
                _check(item, inner)
            except _Mismatch as mismatch:
                mismatch.parts.append(f"[{index}]")
                raise
    elif "*" in shape:
        if value.__class__ is not dict:
            raise _Mismatch("object")
        inner = shape["*"]
        for key, item in value.items():
            if key.__class__ is not str:
                raise _Mismatch("object with string keys")
            try:
                _check(item, inner)
            except _Mismatch as mismatch:
                mismatch.parts.append(key)
                raise
    else:
        if value.__class__ is not dict:
            raise _Mismatch("object")
        for field, inner in shape.items():
            item = value.get(field)
            if item is not None:
                try:
                    _check(item, inner)
                except _Mismatch as mismatch:
                    mismatch.parts.append(field)
                    raise


def _integer(value: Any) -> bool:
    return value.__class__ is int and -MAX_INTEGER - 1 <= value <= MAX_INTEGER


def _string(value: Any) -> bool:
    return value.__class__ is str


def _boolean(value: Any) -> bool:
    return value.__class__ is bool


def _int_or_string(value: Any) -> bool:
    return value.__class__ is str or _integer(value)


def _quantity(value: Any) -> bool:
    """A string, or a JSON number the API server would have turned into one."""
    return (
        value.__class__ is str
        or _integer(value)
        or (value.__class__ is float and math.isfinite(value) and abs(value) < 1e18)
    )


_SCALARS = {"string": _string, "integer": _integer, "boolean": _boolean, "int-or-string": _int_or_string,
            "quantity": _quantity}  # fmt: skip


_SCALAR_TESTS = {
    "string": "{v}.__class__ is str",
    "boolean": "{v}.__class__ is bool",
    "integer": "({v}.__class__ is int and {low} <= {v} <= {high})",
    "int-or-string": "({v}.__class__ is str or ({v}.__class__ is int and {low} <= {v} <= {high}))",
    "quantity": "_quantity({v})",
}


class _Compiler:
    """Writes one Python function per object shape that answers only "is every field of the right type?",
    with the loops and type tests inline (the recursive walk above spent half of a review's parse time on
    calls and dispatch). It must agree with `_check` on every value: the tests compare the two on generated
    objects of every kind, right and wrong. Only the module's own shapes are compiled, never input."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.pending: list[tuple[str, Shape]] = []

    def function(self, shape: Shape) -> str:
        name = self.names.get(id(shape))
        if name is None:
            name = self.names[id(shape)] = f"_shape_{len(self.names)}"
            self.pending.append((name, shape))
        return name

    def value(self, var: str, shape: Shape, depth: int, indent: str) -> None:
        """Lines that `return False` unless `var` (not None) fits `shape`."""
        if shape.__class__ is str:
            test = _SCALAR_TESTS[shape].format(v=var, low=-MAX_INTEGER - 1, high=MAX_INTEGER)
            self.lines.append(f"{indent}if not ({test}): return False")
        elif shape.__class__ is list:
            item = f"i{depth}"
            self.lines += [f"{indent}if {var}.__class__ is not list: return False", f"{indent}for {item} in {var}:"]
            self.lines.append(f"{indent}    if {item} is not None:")
            self.value(item, shape[0], depth + 1, indent + "        ")
        elif "*" in shape:
            key, item = f"k{depth}", f"i{depth}"
            self.lines += [
                f"{indent}if {var}.__class__ is not dict: return False",
                f"{indent}for {key}, {item} in {var}.items():",
                f"{indent}    if {key}.__class__ is not str: return False",
                f"{indent}    if {item} is not None:",
            ]
            self.value(item, shape["*"], depth + 1, indent + "        ")
        else:
            self.lines.append(f"{indent}if not {self.function(shape)}({var}): return False")

    def body(self, name: str, shape: Shape) -> None:
        self.lines += [f"def {name}(v):", "    if v.__class__ is not dict: return False", "    get = v.get"]
        for field, inner in shape.items():
            self.lines += [f"    f = get({field!r})", "    if f is not None:"]
            self.value("f", inner, 0, "        ")
        self.lines.append("    return True")

    def build(self, shape: Shape) -> Callable[[Any], bool]:
        entry = self.function(shape)
        while self.pending:
            self.body(*self.pending.pop())
        namespace: dict[str, Any] = {"_quantity": _quantity}
        exec(compile("\n".join(self.lines), f"<shape checks {entry}>", "exec"), namespace)  # noqa: S102
        check: Callable[[Any], bool] = namespace[entry]
        return check


_COMPILED: dict[int, Callable[[Any], bool]] = {}


def _compiled(shape: Shape) -> Callable[[Any], bool]:
    check = _COMPILED.get(id(shape))
    if check is None:
        if "*" in shape:  # a map at the top: check it as the only field of a wrapper
            inner = _Compiler().build({"map": shape})
            check = _COMPILED[id(shape)] = lambda value: inner({"map": value})
        else:
            check = _COMPILED[id(shape)] = _Compiler().build(shape)
    return check
