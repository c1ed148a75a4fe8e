"""Every digest and cache key encodes its fields unambiguously (security issue 27, point 6): distinct inputs,
NULs and separators inside names, texts and values included, never share a key.

The break kept out: `ConfigBundle.digest()` joined fields with NULs and no lengths, so one ConfigMap key whose
text embeds `\\0C\\0b.cfg\\0` hashed like two keys, and the validator's cache (shared by every namespace)
answered one namespace's ConfigMap with another's verdict.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.digest import record
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.rendered import mask, rendered_key, unmask
from haproxy_guard.policies.model.configmap import HAProxyConfigMap

SEPARATORS = ["\0", "C", "F", "E", "\0C\0", "\0F\0", "=", ":", "1:", "\x01", "\x01R", "b.cfg"]
text = st.lists(st.sampled_from(SEPARATORS) | st.text(max_size=3), max_size=5).map("".join)
blob = text.map(lambda value: value.encode("utf-8", "surrogatepass"))
names = st.lists(text, max_size=3, unique=True)


@st.composite
def bundles(draw: st.DrawFn) -> ConfigBundle:
    configs = tuple((name, draw(text)) for name in draw(names))
    return ConfigBundle(
        configs or (("haproxy.cfg", ""),),
        files={name: draw(blob) for name in draw(names)},
        env={name: draw(text) for name in draw(names)},
        complete_dirs=tuple(draw(names)),
        opaque_dirs=tuple(draw(names)),
        unknown_env=frozenset(draw(names)),
        env_open=draw(st.booleans()),
        config_dir=draw(text),
        match_by_name=draw(st.booleans()),
    )


def _meaning(bundle: ConfigBundle) -> tuple[object, ...]:
    """What decides a check (the name matching only matters with files, as the digest says)."""
    return (
        bundle.configs,
        sorted(bundle.files.items()),
        sorted(bundle.env.items()),
        bundle.complete_dirs,
        bundle.opaque_dirs,
        sorted(bundle.unknown_env),
        bundle.env_open,
        bundle.config_dir,
        bundle.match_by_name and bool(bundle.files),
    )


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(bundles(), bundles())
def test_distinct_bundles_never_share_a_digest(first: ConfigBundle, second: ConfigBundle) -> None:
    assume(_meaning(first) != _meaning(second))
    assert first.digest() != second.digest()


def test_the_reported_collision_is_gone() -> None:
    """One key whose text embeds the old separator sequence, against the two keys it used to hash like."""
    one = ConfigBundle((("a.cfg", "global\n\0C\0b.cfg\0frontend f\n"),))
    two = ConfigBundle((("a.cfg", "global\n"), ("b.cfg", "frontend f\n")))
    assert one.digest() != two.digest()
    env_one = ConfigBundle((("a.cfg", "x"),), env={"A": "1\0E\0B\x002"})
    env_two = ConfigBundle((("a.cfg", "x"),), env={"A": "1", "B": "2"})
    assert env_one.digest() != env_two.digest()


def _configmap(data: dict[str, bytes]) -> HAProxyConfigMap:
    return HAProxyConfigMap({}, "c", "ns", {}, tuple(name for name in data if name.endswith(".cfg")), data)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(text, blob, max_size=3), st.dictionaries(text, blob, max_size=3))
def test_distinct_configmaps_never_share_a_config_hash(first: dict[str, bytes], second: dict[str, bytes]) -> None:
    assume(first != second)
    assert _configmap(first).digest() != _configmap(second).digest()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([b"A", b"B"]), st.lists(blob, max_size=3)), max_size=4), st.data())
def test_records_are_a_prefix_code(records: list[tuple[bytes, list[bytes]]], data: st.DataObject) -> None:
    other = data.draw(st.lists(st.tuples(st.sampled_from([b"A", b"B"]), st.lists(blob, max_size=3)), max_size=4))
    assume(records != other)
    digests = []
    for sequence in (records, other):
        hasher = hashlib.sha256()
        for tag, fields in sequence:
            record(hasher, tag, *fields)
        digests.append(hasher.digest())
    assert digests[0] != digests[1]


def test_a_record_tag_is_one_byte() -> None:
    with pytest.raises(ValueError, match="one byte"):
        record(hashlib.sha256(), b"AB", "x")


ROOT = b"/tmp/haproxy-guard-abc123"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([ROOT, b"\x01", b"R", b"\x01R", b"x", b"/"]), max_size=8).map(b"".join))
def test_masking_the_sandbox_path_is_reversible(data: bytes) -> None:
    """Kept outputs are masked: a text holding the marker's bytes never reads back as the sandbox path."""
    assert unmask(mask(data, ROOT), ROOT) == data
    assert unmask(mask(data, ROOT), b"/other") == data.replace(ROOT, b"/other")


def test_a_file_holding_the_marker_renders_to_another_key(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "h.cfg").write_bytes(mask(str(first).encode() + b"/x", str(first).encode()))  # the marker itself
    (second / "h.cfg").write_bytes(str(second).encode() + b"/x")  # the sandbox's own path
    assert rendered_key(first, ["argv:h.cfg"]) != rendered_key(second, ["argv:h.cfg"])
    (first / "h.cfg").write_bytes(str(first).encode() + b"/x")
    assert rendered_key(first, ["argv:h.cfg"]) == rendered_key(second, ["argv:h.cfg"])  # the same run
