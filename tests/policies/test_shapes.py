"""Typed input all the way down (`policies.model.shapes`): every field the engine reads is described with its
Kubernetes type, checked against Kubernetes' own schemas here; a wrong type anywhere is a `ShapeError` naming
the path, and generated mutations of real objects at every path never crash the engine (`make fuzz` runs
the same generator longer)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.engine import check, mutate
from haproxy_guard.policies.model import shapes
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.shapes import SHAPES, Shape, ShapeError, check_shape
from tests.helpers import load_yaml

GOLDEN = Path(__file__).parent.parent / "golden"
SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.37.0-local"
SCHEMA_FILES = {
    "Deployment": "deployment-apps-v1.json",
    "StatefulSet": "statefulset-apps-v1.json",
    "DaemonSet": "daemonset-apps-v1.json",
    "Pod": "pod-v1.json",
    "ConfigMap": "configmap-v1.json",
    "PodDisruptionBudget": "poddisruptionbudget-policy-v1.json",
}
FUZZ_EXAMPLES = int(os.environ.get("HAPROXY_GUARD_FUZZ_EXAMPLES", "150"))


def _definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / "_definitions.json").read_text())["$defs"]
    return loaded


DEFINITIONS = _definitions()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = DEFINITIONS[node["$ref"].rsplit("/", 1)[1]]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    node = _resolve(node)
    if "oneOf" in node:
        return {kind for option in node["oneOf"] for kind in _types(option)}
    kinds = node.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _compare(shape: Shape, node: dict[str, Any], path: str) -> list[str]:
    node = _resolve(node)
    problems: list[str] = []
    expected = {
        "string": {"string"},
        "integer": {"integer"},
        "boolean": {"boolean"},
        "int-or-string": {"integer", "string"},
        "quantity": {"number", "string"},
    }
    if isinstance(shape, str):
        if _types(node) - {"null"} != expected[shape]:
            problems.append(f"{path}: ours {shape}, Kubernetes {sorted(_types(node))}")
    elif isinstance(shape, list):
        if "array" not in _types(node):
            return [f"{path}: ours array, Kubernetes {sorted(_types(node))}"]
        problems += _compare(shape[0], node["items"], f"{path}[]")
    elif "*" in shape:
        if "additionalProperties" not in node:
            return [f"{path}: ours a map, Kubernetes has no additionalProperties"]
        problems += _compare(shape["*"], node["additionalProperties"], f"{path}.*")
    else:
        properties = node.get("properties", {})
        for field, inner in shape.items():
            if field not in properties:
                problems.append(f"{path}.{field}: not a Kubernetes field")
            else:
                problems += _compare(inner, properties[field], f"{path}.{field}")
    return problems


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_every_described_field_has_its_kubernetes_type(kind: str) -> None:
    schema = json.loads((SCHEMAS / SCHEMA_FILES[kind]).read_text())
    assert _compare(SHAPES[kind], schema, kind) == []


@pytest.mark.parametrize(
    ("kind", "obj", "path"),
    [
        (
            "Deployment",
            {"spec": {"template": {"spec": {"containers": [{"name": []}]}}}},
            "spec.template.spec.containers[0].name: expected string",
        ),
        ("DaemonSet", {"spec": {"updateStrategy": 0}}, "spec.updateStrategy: expected object"),
        ("ConfigMap", {"metadata": 5}, "metadata: expected object"),
        ("ConfigMap", {"data": {"haproxy.cfg": 7}}, "data.haproxy.cfg: expected string"),
        ("Pod", {"spec": {"containers": [{"resources": {"limits": {"memory": []}}}]}}, "limits.memory: expected"),
        ("StatefulSet", {"spec": {"replicas": True}}, "spec.replicas: expected integer"),
        ("Deployment", {"spec": {"replicas": 2**64}}, "spec.replicas: expected integer"),
    ],
)
def test_a_wrong_type_names_its_path(kind: str, obj: dict[str, Any], path: str) -> None:
    with pytest.raises(ShapeError, match=None) as raised:
        check_shape(obj, kind)
    assert path in str(raised.value)


def test_nulls_and_unknown_fields_pass() -> None:
    check_shape({"metadata": {"creationTimestamp": None, "labels": None}, "spec": {"newField": [1, {}]}}, "Deployment")
    check_shape(
        {"spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"cpu": 0.5}}}]}}}}, "Deployment"
    )


def _golden_objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(GOLDEN.glob("*/*/input.yaml")):
        document = load_yaml(path)
        if isinstance(document, dict) and document.get("kind") in SHAPES:
            objects.append(document)
    return objects


OBJECTS = _golden_objects()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_objects(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(OBJECTS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(obj)))
        if not path:
            continue
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = draw(JSON_VALUES)
    return obj


def _configmaps(obj: dict[str, Any]) -> Any:
    return lambda _namespace, _name: None


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_objects())
def test_mutated_objects_are_refused_by_path_or_handled(obj: dict[str, Any]) -> None:
    """A value of any type at any path: either `check_shape` names it, or every policy and fix runs cleanly
    (no TypeError, AttributeError, InvalidOperation, OverflowError... anywhere in the engine)."""
    kind = str(obj.get("kind"))
    try:
        check_shape(obj, kind)
    except ShapeError:
        return
    context = Context(None, _configmaps(obj), lambda _namespace: [])
    check(obj, Settings(), namespace="shop", context=context)
    for operation in ("CREATE", "UPDATE"):
        mutate(obj, Settings(), namespace="shop", operation=operation, context=context)


SCALARS = {
    "string": st.sampled_from(["", "haproxy", "haproxy:3.2", "/usr/local/etc/haproxy", "edge", "RollingUpdate",
                               "OnDelete", "Recreate", "25%", "http", "In", "sleep", "-f", "x" * 300]),
    "integer": st.integers(min_value=-5, max_value=100_000) | st.sampled_from([0, 2**31, -(2**63)]),
    "boolean": st.booleans(),
    "int-or-string": st.integers(min_value=-3, max_value=70_000) | st.sampled_from(["25%", "0", "http", "", "1.5"]),
    "quantity": st.sampled_from(["1", "500m", "256Mi", "1Gi", "2", "0", "1e3", "bogus", ""]) | st.integers(0, 64)
    | st.floats(min_value=0, max_value=1e6),
}  # fmt: skip


def from_shape(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Objects of the right types over exactly the fields the engine reads (any subset, any size)."""
    if isinstance(shape, str):
        return SCALARS[shape] | st.none()
    if isinstance(shape, list):
        return st.lists(from_shape(shape[0], depth + 1), max_size=2 if depth < 6 else 0)
    if "*" in shape:
        return st.dictionaries(st.sampled_from(["app", "haproxy.cfg", "cpu", "memory", "k"]), from_shape(shape["*"]))
    return st.fixed_dictionaries({}, optional={field: from_shape(inner, depth + 1) for field, inner in shape.items()})


SHAPED = {kind: from_shape(SHAPES[kind]) for kind in ("Deployment", "StatefulSet", "DaemonSet", "Pod", "ConfigMap")}
"""Built once: strategies made afresh for every example churn hypothesis's strategy cache."""


@st.composite
def shaped_objects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(SHAPED)))
    body: dict[str, Any] = draw(SHAPED[kind])
    api_version = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1"}.get(kind, "v1")
    return {"apiVersion": api_version, "kind": kind, **body}


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(shaped_objects())
def test_objects_generated_from_the_shapes_never_crash_the_engine(obj: dict[str, Any]) -> None:
    """Every combination of the fields the engine reads, each of its Kubernetes type (values within and out of
    range, empty, missing, null): the shape check passes them and every policy and fix runs cleanly."""
    check_shape(obj, obj["kind"])
    context = Context(None, lambda _namespace, _name: None, lambda _namespace: [])
    check(obj, Settings(), namespace="shop", context=context)
    for operation in ("CREATE", "UPDATE"):
        mutate(obj, Settings(), namespace="shop", operation=operation, context=context)


def _generic_accepts(obj: Any, shape: Shape) -> bool:
    try:
        shapes._check(obj, shape)
    except shapes._Mismatch:
        return False
    return True


@st.composite
def right_and_wrong_objects(draw: st.DrawFn) -> tuple[str, Any]:
    """Objects of every kind made from the shapes, then 0 to 3 values anywhere replaced by any JSON value or by
    the edge cases of each type (a boolean for an integer, 2**63, NaN, infinity, a non-string map key)."""
    kind = draw(st.sampled_from(sorted(SHAPED)))
    obj: Any = draw(SHAPED[kind])
    odd = st.sampled_from([True, False, 2**63, -(2**63) - 1, 2**63 - 1, float("nan"), float("inf"), 1e18, 1.5,
                           {1: "x"}, {"k": 1}, [None], [[]], "", {}])  # fmt: skip
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(_paths(obj)))
        value = copy.deepcopy(draw(JSON_VALUES | odd))  # a fresh value: a shared one could make a cycle
        if not path:
            obj = value
            continue
        parent: Any = obj
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = value
    return kind, obj


@settings(max_examples=FUZZ_EXAMPLES * 4, deadline=None, suppress_health_check=list(HealthCheck))
@given(right_and_wrong_objects())
def test_the_compiled_check_agrees_with_the_walk_on_every_value(case: tuple[str, Any]) -> None:
    # check_shape trusts the compiled functions' "yes" without walking: one wrong "yes" lets a bad type through
    kind, obj = case
    if not isinstance(obj, dict):
        return
    assert shapes._compiled(SHAPES[kind])(obj) == _generic_accepts(obj, SHAPES[kind])


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_the_compiled_check_refuses_each_wrong_type_the_walk_refuses(kind: str) -> None:
    for obj in (o for o in OBJECTS if o.get("kind") == kind):
        for path in _paths(obj)[1:]:
            for value in (True, 2**63, "x", [1], {"a": 1}, {1: 1}, float("nan")):
                broken = copy.deepcopy(obj)
                parent: Any = broken
                for step in path[:-1]:
                    parent = parent[step]
                parent[path[-1]] = value
                assert shapes._compiled(SHAPES[kind])(broken) == _generic_accepts(broken, SHAPES[kind]), path
