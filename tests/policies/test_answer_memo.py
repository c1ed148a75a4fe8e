"""The webhooks' memo of answers (`policies/answer_memo.py`, used by `webhook/admission.py`): a remembered
reply is the reply made afresh, for every golden input varied in every part the fingerprint leaves out (the
values of annotations other than ours among them, as `kubectl rollout restart` changes them) and in parts it
keeps (our annotations' values, other annotations' keys), and it is only reused while the ConfigMaps and PDBs
the engine read are the same."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_guard.policies import engine
from haproxy_guard.policies.answer_memo import (
    IDLE_AFTER,
    MAX_KEY_BYTES,
    PROBE_EVERY,
    Memo,
    Recorder,
    fingerprint,
    still_current,
)
from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.model.workload import inspect_workload, pod_spec_of
from haproxy_guard.policies.settings_file import parse_settings
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.review import AdmissionRequest, parse_review, response_review
from haproxy_guard.webhook.warnings import fit, warning_text
from tests.helpers import golden_context, golden_id, golden_inputs, load_yaml, review

WORKLOAD_INPUTS = [path for path in golden_inputs() if load_yaml(path).get("kind") != "ConfigMap"]


def _request(obj: dict[str, Any], operation: str = "CREATE", uid: str = "uid-1") -> AdmissionRequest:
    return parse_review(orjson.dumps(review(obj, operation, uid=uid)))


def _engine_reply(obj: dict[str, Any], settings: Settings, context: Context, request: AdmissionRequest) -> Any:
    """The reply made straight from `engine.mutate` with the whole context (PDBs included)."""
    mutation = engine.mutate(obj, settings, namespace=request.namespace, operation=request.operation, context=context)
    annotations = {"mutated-by": ",".join(mutation.changed_by)} if mutation.changed_by else None
    return response_review(
        request.uid,
        patch=mutation.patch,
        warnings=fit(warning_text(finding) for finding in mutation.findings),
        audit_annotations=annotations,
    )


def _containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    found = pod_spec_of(obj)
    assert found is not None
    for key in ("containers", "initContainers"):
        yield from (container for container in found[1].get(key) or [] if isinstance(container, dict))


def _retag(image: str, index: int) -> str:
    """The same repository and branch with another patch release (a tag that names no version stays)."""
    reference, _, digest = image.partition("@")
    slash, colon = reference.rfind("/"), reference.rfind(":")
    repository, tag = (reference[:colon], reference[colon + 1 :]) if colon > slash else (reference, "")
    parts = tag.split(".")
    if len(parts) >= 2 and parts[0].lstrip("v").isdigit() and parts[1].split("-")[0].isdigit():
        tag = f"{parts[0]}.{parts[1].split('-')[0]}.{90 + index}"
    return f"{repository}:{tag}" if tag else repository + ("@" + digest if digest else "")


def _template_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The metadata of `obj`'s pod template (of the Pod itself for a Pod), created when absent."""
    found = pod_spec_of(obj)
    assert found is not None
    template: Any = obj
    for key in found[0][:-1]:
        template = template[key]
    metadata: dict[str, Any] = template.setdefault("metadata", {})
    return metadata


def _revalued(metadata: dict[str, Any], index: int) -> None:
    """Every annotation value no policy reads (not ours, a string) changed."""
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            if isinstance(value, str) and not key.startswith("haproxy-guard.io/"):
                annotations[key] = f"{value}-v{index}"


def _unread_variants(
    obj: dict[str, Any], pod_labels: bool = True, name: bool = True
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of `obj` changed only where the fingerprint does not look (`pod_labels`: the pod template's
    labels too, which only checks read; `name`: the name too, which is read only to find an HPA)."""
    for index in range(3):
        variant = copy.deepcopy(obj)
        metadata = variant.setdefault("metadata", {})
        if name:
            metadata["name"] = f"{metadata.get('name', 'x')}-v{index}"
        metadata["labels"] = {**(metadata.get("labels") or {}), "release": f"r{index}"}
        metadata.update(uid=f"u-{index}", resourceVersion=str(100 + index), generation=index + 1)
        metadata["managedFields"] = [{"manager": f"m{index}", "operation": "Apply"}]
        metadata["creationTimestamp"] = f"2026-11-29T10:0{index}:00Z"
        template = variant.get("spec", {}).get("template")
        if pod_labels and isinstance(template, dict):
            template.setdefault("metadata", {}).setdefault("labels", {})["release"] = f"r{index}"
        _revalued(metadata, index)
        _revalued(_template_metadata(variant), index)
        for container in _containers(variant):
            if isinstance(container.get("image"), str):
                container["image"] = _retag(container["image"], index)
                if index == 2:
                    container["image"] = "registry.local:5000/" + container["image"]
        yield f"unread-{index}", variant


def _restart_variants(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """What `kubectl rollout restart` sends, three times: the pod template's `restartedAt` (and the object's
    revision annotation) with a new value each time. The first is new; the next two are remembered."""
    for index in range(3):
        variant = copy.deepcopy(obj)
        template = _template_metadata(variant)
        template.setdefault("annotations", {})["kubectl.kubernetes.io/restartedAt"] = f"2026-12-07T10:0{index}:00Z"
        variant["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(index + 2)
        yield f"restart-{index}", variant


def _read_variants(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of `obj` changed where the fixes read: they must not get the remembered reply."""
    annotated = copy.deepcopy(obj)
    annotated.setdefault("metadata", {}).setdefault("annotations", {})["haproxy-guard.io/skip"] = "true"
    yield "skip-annotation", annotated
    hashed = copy.deepcopy(obj)
    _template_metadata(hashed).setdefault("annotations", {})["haproxy-guard.io/config-hash"] = "sha256:" + "0" * 64
    yield "our-annotation-value", hashed
    checksummed = copy.deepcopy(obj)
    _template_metadata(checksummed).setdefault("annotations", {})["checksum/added-by-test"] = "0"
    yield "checksum-annotation-key", checksummed
    reloaded = copy.deepcopy(obj)
    reloaded["metadata"].setdefault("annotations", {})["configmap.reloader.stakater.com/reload"] = "edge"
    yield "reloader-annotation-key", reloaded
    mirrored = copy.deepcopy(obj)
    mirrored["metadata"].setdefault("annotations", {})["kubernetes.io/config.mirror"] = "0"
    yield "mirror-annotation-key", mirrored
    stripped = copy.deepcopy(obj)
    for container in _containers(stripped):
        container.pop("lifecycle", None)
        container.pop("readinessProbe", None)
    if stripped != obj:
        yield "no-lifecycle", stripped
    graced = copy.deepcopy(obj)
    found = pod_spec_of(graced)
    assert found is not None
    found[1]["terminationGracePeriodSeconds"] = int(found[1].get("terminationGracePeriodSeconds") or 0) + 7
    yield "grace-period", graced
    rebranched = copy.deepcopy(obj)
    for container in _containers(rebranched):
        if isinstance(container.get("image"), str):
            container["image"] = "haproxy:2.6"
    yield "other-branch", rebranched


def _case(input_path: Path, validator: Validator) -> tuple[Settings, Context, dict[str, Any]]:
    case = input_path.parent
    settings_path = case / "settings.yaml"
    settings = parse_settings(load_yaml(settings_path) if settings_path.exists() else {}, str(settings_path))
    return settings, golden_context(case, validator), load_yaml(input_path)


@pytest.mark.parametrize("input_path", WORKLOAD_INPUTS, ids=golden_id)
def test_a_remembered_mutation_is_the_engines_patch(input_path: Path, validator: Validator) -> None:
    settings, context, obj = _case(input_path, validator)
    admission = Admission(settings, context)
    named = context.autoscalers is None  # with an HPA source, the name is read (the HPA's target)
    sequence = [
        ("input", obj),
        *_unread_variants(obj, name=named),
        *_restart_variants(obj),
        *_read_variants(obj),
        ("input again", obj),
    ]
    for operation in ("CREATE", "UPDATE"):
        for position, (label, variant) in enumerate(sequence):
            request = _request(variant, operation, uid=f"{operation}-{position}")
            before = copy.deepcopy(variant)
            reply = admission.mutate(request)
            assert reply == _engine_reply(variant, settings, context, request), f"{operation} {label}"
            assert variant == before, "the memo must not change the object"
    if inspect_workload(obj, settings.image_patterns) is not None:
        remembered = 2 * (3 + 2 + 1)
        assert admission.mutations.hits >= remembered, (
            "the unread variants, restarts and the input again are remembered"
        )


@pytest.mark.parametrize("with_pdbs", [True, False], ids=["pdb-source", "no-pdb-source"])
@pytest.mark.parametrize("input_path", WORKLOAD_INPUTS, ids=golden_id)
def test_a_remembered_validation_is_the_engines_findings_with_the_objects_name(
    input_path: Path, validator: Validator, with_pdbs: bool
) -> None:
    settings, context, obj = _case(input_path, validator)
    if not with_pdbs:  # a webhook without a cluster: the pod template's labels are not read
        context = Context(context.validator, context.configmaps)
    admission = Admission(settings, context)
    sequence = [
        ("input", obj),
        *_unread_variants(obj, pod_labels=False, name=context.autoscalers is None),
        *_unread_variants(obj, name=context.autoscalers is None),  # template labels are read: PDBs select by them
        *_restart_variants(obj),
        *_read_variants(obj),
        ("input again", obj),
    ]
    for operation in ("CREATE", "UPDATE"):
        for position, (label, variant) in enumerate(sequence):
            request = _request(variant, operation, uid=f"{operation}-{position}")
            reply = admission.validate(request)
            assert reply == Admission(settings, context).validate(request), f"{operation} {label}"
    if inspect_workload(obj, settings.image_patterns) is not None:
        remembered = 2 * (6 if with_pdbs else 9)  # without PDBs, the template labels' variants too
        assert admission.validations.hits >= remembered, "the name, labels and image tag variants are remembered"


def test_the_fingerprint_ignores_exactly_the_unread_parts() -> None:
    obj = load_yaml(WORKLOAD_INPUTS[0])
    key = fingerprint(obj, "team", "CREATE", ())
    assert key is not None
    for label, variant in _unread_variants(obj):
        assert fingerprint(variant, "team", "CREATE", ()) == key, label
    for label, variant in _read_variants(obj):
        assert fingerprint(variant, "team", "CREATE", ()) != key, label
    restarts = {fingerprint(variant, "team", "CREATE", ()) for _, variant in _restart_variants(obj)}
    assert len(restarts) == 1 and key not in restarts, "a restart adds keys; its value is not read"
    assert fingerprint(obj, "other-team", "CREATE", ()) != key
    assert fingerprint(obj, "team", "UPDATE", ()) != key
    # an image that only an extra pattern makes HAProxy: the pattern decides, so it is part of what is read
    custom = copy.deepcopy(obj)
    next(_containers(custom))["image"] = "team/edge-proxy:1.0"
    assert fingerprint(custom, "team", "CREATE", ()) != fingerprint(custom, "team", "CREATE", ("edge-proxy",))


def test_an_annotation_value_that_is_not_a_string_stays_in_the_key() -> None:
    """Policies read annotations through `string_annotations`, which drops values that are not strings: the
    type of a value is read even where the value is not."""
    obj = load_yaml(WORKLOAD_INPUTS[0])
    keys = set()
    for value in ("a", "b", 1, None):
        variant = copy.deepcopy(obj)
        variant.setdefault("metadata", {})["annotations"] = {"example.com/x": value}
        keys.add(fingerprint(variant, None, "CREATE", ()))
    assert len(keys) == 3, "the two strings share a key; 1 and None have their own"


def test_no_fingerprint_for_other_objects_and_oversized_or_unencodable_ones() -> None:
    obj = load_yaml(WORKLOAD_INPUTS[0])
    assert fingerprint({"apiVersion": "v1", "kind": "ConfigMap", "data": {}}, None, "CREATE", ()) is None
    large = copy.deepcopy(obj)
    large.setdefault("metadata", {}).setdefault("annotations", {})["haproxy-guard.io/big"] = "x" * MAX_KEY_BYTES
    assert fingerprint(large, None, "CREATE", ()) is None
    unread = copy.deepcopy(obj)  # a value no policy reads is not in the key, however large
    unread.setdefault("metadata", {}).setdefault("annotations", {})["example.com/big"] = "x" * MAX_KEY_BYTES
    assert fingerprint(unread, None, "CREATE", ()) is not None
    huge_number = copy.deepcopy(obj)
    huge_number["spec"]["replicas"] = 2**70  # exact in Python, not encodable by orjson
    assert fingerprint(huge_number, None, "CREATE", ()) is None


def _configmap(text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "edge-config", "namespace": "default"},
        "data": {"haproxy.cfg": text},
    }


def _mounting_deployment(name: str, labelled: bool = True) -> dict[str, Any]:
    """A Deployment mounting `edge-config`; `labelled`: its pods carry its name as a label."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "edge"}},
            "template": {
                "metadata": {"labels": {"app": "edge", "release": name} if labelled else {"app": "edge"}},
                "spec": {
                    "containers": [
                        {
                            "name": "haproxy",
                            "image": "haproxy:2.8.5",
                            "volumeMounts": [{"name": "config", "mountPath": "/usr/local/etc/haproxy"}],
                        }
                    ],
                    "volumes": [{"name": "config", "configMap": {"name": "edge-config"}}],
                },
            },
        },
    }


def test_a_changed_configmap_is_read_again_and_changes_the_reply(validator: Validator) -> None:
    current = {"object": _configmap("global\n  maxconn 100\n")}
    calls: list[str] = []

    def source(namespace: str | None, name: str) -> dict[str, Any] | None:
        calls.append(name)
        return current["object"] if name == "edge-config" else None

    context = Context(validator, source)
    admission = Admission(Settings(), context)
    first = admission.mutate(_request(_mounting_deployment("a")))
    assert first == _engine_reply(_mounting_deployment("a"), Settings(), context, _request(_mounting_deployment("a")))
    second = admission.mutate(_request(_mounting_deployment("b")))
    assert admission.mutations.hits == 1 and second == first, "same ConfigMap object: remembered"
    current["object"] = _configmap("global\n  maxconn 200\n")  # what a re-read after a change gives
    third = admission.mutate(_request(_mounting_deployment("c")))
    assert third != first, "the config hash follows the new content"
    assert third == _engine_reply(_mounting_deployment("c"), Settings(), context, _request(_mounting_deployment("c")))
    assert admission.mutate(_request(_mounting_deployment("d"))) == third
    assert calls.count("edge-config") >= 4, "each reuse asks the source again"


def test_still_current_compares_identity_not_equality() -> None:
    held = {"data": {"haproxy.cfg": "x"}}
    budgets = [{"kind": "PodDisruptionBudget"}]
    recorder = Recorder(
        Context(None, lambda namespace, name: held if name == "cfg" else None, lambda namespace: list(budgets))
    )
    assert recorder.context.configmaps is not None and recorder.context.pdbs is not None
    assert recorder.context.configmaps("ns", "cfg") is held and recorder.context.configmaps("ns", "missing") is None
    assert recorder.context.pdbs("ns") == budgets
    reads = tuple(recorder.reads)
    assert len(reads) == 3
    assert still_current(reads, recorder.around), "a new list of the same PDBs is the same"
    copied = Context(None, lambda namespace, name: copy.deepcopy(held) if name == "cfg" else None, recorder.around.pdbs)
    assert not still_current(reads, copied), "an equal ConfigMap read again is not the same"
    other_pdbs = Context(None, recorder.around.configmaps, lambda namespace: copy.deepcopy(budgets))
    assert not still_current(reads, other_pdbs)
    assert not still_current(reads, Context()), "no source any more"
    assert still_current((), Context()), "nothing read: nothing to compare"


def test_a_busy_validator_is_not_remembered(tmp_path: Path) -> None:
    """ "validator busy" (or a timeout) says nothing about the object: the next request checks again."""
    busy = Validator(discover_binaries(), timeout_seconds=0.2, max_concurrent=1)
    configmap = _configmap("global\n  no-such-keyword 1\n")
    context = Context(busy, lambda namespace, name: configmap if name == "edge-config" else None)
    admission = Admission(Settings(), context)
    assert busy._slots.acquire(timeout=1)  # every slot taken: the check answers "busy"
    try:
        first = admission.validate(_request(_mounting_deployment("a", labelled=False)))
    finally:
        busy._slots.release()
    assert "validator busy" in str(first)
    second = admission.validate(_request(_mounting_deployment("b", labelled=False)))
    assert "validator busy" not in str(second) and "no-such-keyword" in str(second)
    assert second["response"]["allowed"] is False
    assert "Deployment default/b" in second["response"]["status"]["message"]
    third = admission.validate(_request(_mounting_deployment("c", labelled=False)))
    assert admission.validations.hits == 1, "a lasting answer is remembered"
    assert third["response"]["status"]["message"] == second["response"]["status"]["message"].replace(
        "default/b", "default/c"
    )


def test_the_memo_is_bounded_and_drops_the_oldest_first() -> None:
    memo: Memo[int] = Memo(max_entries=3)
    for number in range(5):
        memo.put(b"k%d" % number, number)
    assert len(memo) == 3
    assert memo.get(b"k0") is None and memo.get(b"k1") is None
    assert [memo.get(b"k%d" % n) for n in (2, 3, 4)] == [2, 3, 4]
    memo.put(b"k4", 40)  # replacing an entry evicts nothing
    assert len(memo) == 3 and memo.get(b"k2") == 2 and memo.get(b"k4") == 40
    assert (memo.hits, memo.misses) == (5, 2)


def test_a_memo_that_finds_nothing_is_only_consulted_now_and_then() -> None:
    memo: Memo[int] = Memo()
    for number in range(IDLE_AFTER):
        assert memo.consulted()
        assert memo.get(b"new %d" % number) is None
    asked = [memo.consulted() for _ in range(4 * PROBE_EVERY)]
    assert asked.count(True) == 4, "idle: one request in PROBE_EVERY is looked up"
    memo.put(b"again", 1)
    assert memo.get(b"again") == 1
    assert all(memo.consulted() for _ in range(3 * PROBE_EVERY)), "a find makes it busy again"


def test_an_idle_memo_still_answers_every_request_as_the_engine(validator: Validator) -> None:
    settings, context = Settings(), Context(validator)
    admission = Admission(settings, context)
    obj = load_yaml(WORKLOAD_INPUTS[0])
    for number in range(IDLE_AFTER + 3 * PROBE_EVERY):  # all different: a new annotation each
        variant = copy.deepcopy(obj)
        variant.setdefault("metadata", {}).setdefault("annotations", {})[f"example.com/build-{number}"] = "x"
        request = _request(variant, uid=f"u{number}")
        assert admission.mutate(request) == _engine_reply(variant, settings, context, request)
    looked_up = admission.mutations.hits + admission.mutations.misses
    assert looked_up == IDLE_AFTER + 3, "idle after IDLE_AFTER misses, then one lookup in PROBE_EVERY"
    for number in range(4 * PROBE_EVERY):  # the same object again and again: the second probe finds it
        request = _request(obj, uid=f"again{number}")
        assert admission.mutate(request) == _engine_reply(obj, settings, context, request)
    assert admission.mutations.hits >= PROBE_EVERY - 1, "busy again after the first find"


SEPARATED = st.lists(st.sampled_from(["\0", '"', ",", "\\", "]", "a", "b", "\x01", "=", ":"]), max_size=4).map("".join)


@settings(max_examples=300, deadline=None)
@given(SEPARATED, SEPARATED, SEPARATED, SEPARATED)
def test_distinct_read_parts_never_share_a_fingerprint(
    namespace: str, other: str, value: str, other_value: str
) -> None:
    """The memo's key is canonical JSON (orjson) of what the engine reads: NULs, quotes and separators inside
    the namespace, an annotation or an environment value never make two different objects one key
    (security issue 27, point 6)."""
    obj = load_yaml(WORKLOAD_INPUTS[0])

    def variant(annotation: str) -> dict[str, Any]:
        changed: dict[str, Any] = copy.deepcopy(obj)
        changed.setdefault("metadata", {}).setdefault("annotations", {})["haproxy-guard.io/health-path"] = annotation
        next(_containers(changed))["env"] = [{"name": "A", "value": annotation}]
        return changed

    first = fingerprint(variant(value), namespace, "CREATE", ())
    second = fingerprint(variant(other_value), other, "CREATE", ())
    assert first is not None and second is not None
    assert (first == second) == ((namespace, value) == (other, other_value))
