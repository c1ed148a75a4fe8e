"""One `haproxy -c` run for every bundle that renders to the same input (`policies/haproxy/rendered.py`):
shared exactly when HAProxy would read the same bytes, and answering as a run of its own would."""

from __future__ import annotations

from pathlib import Path

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.rendered import MARKER, RenderedRuns, rendered_key
from haproxy_guard.policies.haproxy.sandbox import JailResult, Layers
from haproxy_guard.policies.haproxy.validator import ValidationResult, Validator

ACL = "/usr/local/etc/haproxy/acl.lst"
TEXT = f"""defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
frontend fe
  bind :8080
  acl bad src -f {ACL}
  http-request deny if bad
"""


def _alone(files: dict[str, bytes], text: str = TEXT) -> ConfigBundle:
    """As a ConfigMap is checked on its own: any variable may be defined, the folder's content unknown."""
    return ConfigBundle((("haproxy.cfg", text),), files, {}, match_by_name=True, env_open=True)


def _mounted(files: dict[str, bytes], text: str = TEXT, env: dict[str, str] | None = None) -> ConfigBundle:
    """As a container mounts it: its own environment, the whole folder given."""
    return ConfigBundle(
        (("haproxy.cfg", text),), files, env or {}, complete_dirs=("/usr/local/etc/haproxy",), env_open=False
    )


def _answer(result: ValidationResult) -> tuple[bool, list[str], list[str]]:
    return result.valid, [str(m) for m in result.errors], [str(m) for m in result.warnings]


def test_bundles_that_render_alike_share_one_run_and_its_answer(validator: Validator) -> None:
    files = {ACL: b"not-an-ip\n"}
    alone, mounted = _alone(files), _mounted(files)
    assert alone.digest() != mounted.digest(), "two different bundles (two entries of the validator's cache)"
    fresh = Validator(validator.binaries, default_version="2.8")
    first, second = fresh.validate(alone, "2.8"), fresh.validate(mounted, "2.8")
    assert fresh.stats["rendered_hits"] == 1 and not second.cached
    # the shared run answers as a run of its own: the message names the submitted file, not a sandbox path
    own = Validator(validator.binaries, default_version="2.8").validate(mounted, "2.8")
    assert _answer(second) == _answer(own) == _answer(first)
    assert not second.valid and f"file '{ACL}'" in str(second.errors[0]), second.errors


def test_bundles_that_render_differently_each_run(validator: Validator) -> None:
    fresh = Validator(validator.binaries, default_version="2.8")
    fresh.validate(_alone({ACL: b"10.0.0.1\n"}), "2.8")
    fresh.validate(_mounted({ACL: b"10.0.0.2\n"}), "2.8")  # another file content
    uses_variable = TEXT + '  http-request set-header X-Env "${ZONE}"\n'
    fresh.validate(_mounted({ACL: b"10.0.0.1\n"}, uses_variable, {"ZONE": "a"}), "2.8")
    fresh.validate(_mounted({ACL: b"10.0.0.1\n"}, uses_variable, {"ZONE": "b"}), "2.8")  # another environment
    fresh.validate(_mounted({ACL: b"10.0.0.1\n"}), "2.6")  # another binary
    assert fresh.stats["rendered_hits"] == 0 and fresh.stats["runs"] == 5


def _tree(root: Path, extra: dict[str, bytes] | None = None) -> Path:
    root.mkdir()
    (root / "files").mkdir()
    (root / "haproxy.cfg").write_bytes(
        b"frontend fe\n  bind :80\n  errorfile 503 " + str(root).encode() + b"/files/0\n"
    )
    (root / "files" / "0").write_bytes(b"HTTP/1.0 503\r\n\r\n")
    for name, content in (extra or {}).items():
        (root / name).write_bytes(content)
    return root


def test_the_key_covers_every_file_and_part_but_not_the_sandbox_path(tmp_path: Path) -> None:
    parts = ["argv:haproxy", "argv:-c", "env:A=1"]
    one, two = _tree(tmp_path / "one"), _tree(tmp_path / "two")
    assert rendered_key(one, parts) == rendered_key(two, parts), "same files, each naming its own sandbox"
    base = rendered_key(one, parts)
    assert rendered_key(one, [*parts[:2], "env:A=2"]) != base
    assert rendered_key(one, parts[:2]) != base
    assert rendered_key(one, ["argv:haproxy", "argv:-c env:A=1"]) != base, "parts are framed, not joined"
    (one / "files" / "0").write_bytes(b"HTTP/1.0 504\r\n\r\n")
    assert rendered_key(one, parts) != base
    assert rendered_key(_tree(tmp_path / "three", {"other": b""}), parts) != rendered_key(two, parts)
    (two / "files" / "1").mkdir()
    assert rendered_key(two, parts) != base, "an empty folder counts too"


def _jailed(output: bytes, **changes: object) -> JailResult:
    fields: dict[str, object] = {
        "returncode": 1, "output": output, "layers": Layers(), "missing": (), "timed_out": False, "seconds": 0.01,
    }  # fmt: skip
    fields.update(changes)
    return JailResult(**fields)  # type: ignore[arg-type]


def test_a_kept_run_names_the_sandbox_it_is_reused_in(tmp_path: Path) -> None:
    runs = RenderedRuns(entries=2)
    first, second = tmp_path / "first", tmp_path / "second"
    runs.put("k", first, _jailed(b"[ALERT] (7) : parsing [" + str(first).encode() + b"/files/0:1] : bad\n"))
    reused = runs.get("k", second)
    assert (
        reused is not None
        and reused.output == b"[ALERT] (7) : parsing [" + str(second).encode() + b"/files/0:1] : bad\n"
    )
    assert MARKER not in reused.output and str(first).encode() not in reused.output
    assert runs.get("other", second) is None


def test_only_complete_runs_are_kept_and_the_oldest_go_first(tmp_path: Path) -> None:
    runs = RenderedRuns(entries=2)
    runs.put("timeout", tmp_path, _jailed(b"", timed_out=True, returncode=None))
    runs.put("refused", tmp_path, _jailed(b"", missing=("seccomp",)))
    runs.put("killed", tmp_path, _jailed(b"", returncode=None))
    assert [runs.get(key, tmp_path) for key in ("timeout", "refused", "killed")] == [None, None, None]
    for key in ("a", "b", "c"):
        runs.put(key, tmp_path, _jailed(key.encode()))
    assert runs.get("a", tmp_path) is None and runs.get("b", tmp_path) is not None
