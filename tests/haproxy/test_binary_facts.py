"""What a process learns of the validator binaries is kept for the next (`binary_facts`): versions and
vocabulary answers come back without running or scanning the binary, a changed binary is asked again, and a
broken or hostile cache file only means asking again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.cli.main import KEEPS_BINARY_FACTS
from haproxy_guard.policies.haproxy import binary_facts, vocabulary
from haproxy_guard.policies.haproxy import validator as validator_module
from haproxy_guard.policies.haproxy.validator import discover_binaries
from tests.helpers import ROOT


def _forget(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every in-process memory of binaries empty, as a command starts, with the cache in `folder`."""
    monkeypatch.setattr(validator_module, "_VERSIONS", {})
    for name in ("_CONTENTS", "_SEARCHES", "_WORD_LISTS", "_ANSWERS"):
        monkeypatch.setattr(vocabulary, name, {})
    binary_facts.enable(folder)


@pytest.fixture
def facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The cache on, in a folder of its own, with nothing known yet."""
    _forget(monkeypatch, tmp_path / "facts")
    yield tmp_path / "facts"
    binary_facts.disable()


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what this process learnt, as the next command starts (the files stay)."""
    _forget(monkeypatch, binary_facts._folder[0])


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"asked the binary: {args}")


def test_versions_come_back_without_running_the_binaries(facts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binaries = {binary: version for version, binary in discover_binaries().items()}
    assert len(list(facts.glob("*.facts"))) >= len(binaries)
    _new_process(monkeypatch)
    monkeypatch.setattr(validator_module, "versions_of", lambda asked: _refuse(asked) if asked else {})
    assert validator_module.binary_versions(list(binaries)) == binaries


def test_vocabulary_answers_come_back_without_a_scan(facts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Words found come back from the file; a word the binary lacks is never written (it may be a quote of
    something withheld) and is searched again."""
    binary = next(iter(discover_binaries().values()))
    assert [vocabulary.knows(binary, word) for word in ("frontend", "ignored", "zzqxs3cr3t")] == [True, True, False]
    entry = binary_facts._entry(binary)
    assert entry is not None and "zzqxs3cr3t" not in entry.read_text()
    _new_process(monkeypatch)
    searched: list[bytes] = []

    def searching(data: bytes, word: bytes) -> bool:
        searched.append(word)
        return False

    monkeypatch.setattr(vocabulary, "contains_word", searching)
    monkeypatch.setattr(vocabulary, "read_words", _refuse)
    assert [vocabulary.knows(binary, word) for word in ("frontend", "ignored", "zzqxs3cr3t")] == [True, True, False]
    assert searched == [b"zzqxs3cr3t"]


def test_a_changed_binary_is_asked_again(facts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path with another modification time (a binary replaced in place) is a new entry."""
    version, original = "2.6", discover_binaries()["2.6"]  # Debian's: runs from any folder
    copy = tmp_path / "haproxy"
    shutil.copy2(original, copy)
    assert validator_module.binary_version(str(copy)) == version
    _new_process(monkeypatch)
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))
    asked: list[list[str]] = []
    versions_of = validator_module.versions_of

    def counting(binaries: list[str]) -> dict[str, str | None]:
        asked.append(list(binaries))
        return versions_of(binaries)

    monkeypatch.setattr(validator_module, "versions_of", counting)
    assert validator_module.binary_version(str(copy)) == version
    assert asked == [[str(copy)]]


def test_a_broken_or_hostile_entry_only_means_asking_again(facts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = next(iter(discover_binaries().values()))
    entry = binary_facts._entry(binary)
    assert entry is not None and entry.exists()
    entry.write_bytes(b"version 9.9.9\nword two words\n\xff\xfe\nversion\n" * 10)
    _new_process(monkeypatch)
    assert binary_facts.version(binary) is None  # nothing in it parses: undecodable, so not read at all
    entry.write_text("version not-a-version\nword bad-word\n" + "word filler\n" * binary_facts.MAX_LINES)
    _new_process(monkeypatch)
    assert binary_facts.version(binary) is None and binary_facts.word(binary, "filler") is True
    assert binary_facts.word(binary, "bad") is None
    binary_facts.remember_word(binary, "frontend", True)  # full: learns nothing more, and says nothing wrong
    assert "frontend" not in entry.read_text()


def test_a_link_planted_at_an_entry_is_not_written_through(facts: Path, tmp_path: Path) -> None:
    binary = next(iter(discover_binaries().values()))
    entry = binary_facts._entry(binary)
    assert entry is not None
    entry.unlink()
    target = tmp_path / "elsewhere"
    target.write_text("")
    entry.symlink_to(target)
    binary_facts.disable()
    binary_facts.enable(facts)
    binary_facts.remember_word(binary, "frontend", True)
    assert target.read_text() == ""


def test_off_unless_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary_facts.disable()
    monkeypatch.setattr(validator_module, "_VERSIONS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    validator_module.binary_versions(list(discover_binaries().values()))
    assert not (tmp_path / "haproxy-guard").exists()


def test_the_command_line_keeps_them_in_the_user_cache(tmp_path: Path) -> None:
    """`audit` (a short-lived command) keeps the facts in `$XDG_CACHE_HOME/haproxy-guard/binaries`."""
    example = ROOT / "tests" / "scenarios" / "broken-config-and-recreate" / "resources.yaml"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "haproxy_guard.cli.main", "audit", str(example)]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    kept = sorted((tmp_path / "haproxy-guard" / "binaries").glob("*.facts"))
    assert kept and any(path.read_text().startswith("version ") for path in kept)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout)
    assert {"serve", "checker"}.isdisjoint(KEEPS_BINARY_FACTS)  # the long-lived processes keep them in memory
