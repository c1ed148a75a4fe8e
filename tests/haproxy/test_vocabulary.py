"""HAProxy's vocabulary (the words a message may quote) is read from the binary once, then from a cache file
that only an unchanged binary can use; a broken or foreign cache file is never trusted."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy import vocabulary
from haproxy_guard.policies.haproxy.validator import discover_binaries

BINARY = next(iter(discover_binaries().values()))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(vocabulary.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(vocabulary, "_WORDS", {})
    return tmp_path / "cache" / "vocabulary"


@pytest.fixture
def binary(tmp_path: Path) -> str:
    copy = tmp_path / "bin" / "haproxy"
    copy.parent.mkdir()
    shutil.copy2(BINARY, copy)
    return str(copy)


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = vocabulary.read_words

    def spy(path: str) -> frozenset[str]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(vocabulary, "read_words", spy)
    return calls


def test_the_words_are_those_of_the_binary_strings(binary: str) -> None:
    words = vocabulary.read_words(binary)
    assert {"proxy", "backend", "frontend", "maxconn", "parsing"} <= words
    assert "secretvalue_not_in_haproxy" not in words
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", word) for word in words)


def test_read_once_then_from_the_cache_file_in_a_new_process(
    cache: Path, binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _reads(monkeypatch)
    first = vocabulary.binary_words(binary)
    assert reads == [binary]
    files = list(cache.glob("*.words"))
    assert len(files) == 1
    assert files[0].stat().st_mode & 0o077 == 0
    assert vocabulary.binary_words(binary) is first  # same process: from memory
    monkeypatch.setattr(vocabulary, "_WORDS", {})  # a new process: from the file, not the binary
    assert vocabulary.binary_words(binary) == first
    assert reads == [binary]


def test_a_changed_binary_is_read_again(cache: Path, binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _reads(monkeypatch)
    vocabulary.binary_words(binary)
    with Path(binary).open("ab") as handle:
        handle.write(b"\0added_word_xyz\0")
    monkeypatch.setattr(vocabulary, "_WORDS", {})
    assert "added_word_xyz" in vocabulary.binary_words(binary)
    assert reads == [binary, binary]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda text: text.replace("\n", "\nsecret value\n", 1),  # not one word per line
        lambda text: text.replace("\n", "\nsecret/../value\n", 1),
        lambda text: "other header" + text[text.index("\n") :],  # another binary's file
        lambda text: text.rstrip("\n"),  # cut short
        lambda text: text + "\u00e9t\u00e9\n",  # not ASCII
    ],
)
def test_a_tampered_cache_file_is_ignored(
    cache: Path, binary: str, monkeypatch: pytest.MonkeyPatch, tamper: object
) -> None:
    reads = _reads(monkeypatch)
    expected = vocabulary.binary_words(binary)
    (path,) = cache.glob("*.words")
    assert callable(tamper)
    path.write_text(tamper(path.read_text(encoding="ascii")), encoding="utf-8")
    monkeypatch.setattr(vocabulary, "_WORDS", {})
    assert vocabulary.binary_words(binary) == expected
    assert len(reads) == 2  # read from the binary again


def test_an_extra_word_in_a_well_formed_file_is_what_the_file_says(
    cache: Path, binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the file is trusted like the account's own files: proof that it is read, not just written
    vocabulary.binary_words(binary)
    (path,) = cache.glob("*.words")
    path.write_text(path.read_text(encoding="ascii") + "planted_word\n", encoding="ascii")
    monkeypatch.setattr(vocabulary, "_WORDS", {})
    assert "planted_word" in vocabulary.binary_words(binary)


def test_an_unwritable_or_disabled_cache_still_answers(
    tmp_path: Path, binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    for setting in (str(blocked), ""):
        monkeypatch.setenv(vocabulary.CACHE_DIR_ENV, setting)
        monkeypatch.setattr(vocabulary, "_WORDS", {})
        assert "backend" in vocabulary.binary_words(binary)
    assert vocabulary.cache_dir() is None
    assert blocked.read_text() == "not a folder"


def test_where_the_cache_lives(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(vocabulary.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert vocabulary.cache_dir() == tmp_path / "xdg" / "haproxy-guard" / "vocabulary"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert vocabulary.cache_dir() == tmp_path / "home" / ".cache" / "haproxy-guard" / "vocabulary"
    monkeypatch.delenv("HOME")
    assert vocabulary.cache_dir() is None


def test_threads_asking_at_once_read_the_binary_once(cache: Path, binary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _reads(monkeypatch)
    answers: list[frozenset[str]] = []
    threads = [threading.Thread(target=lambda: answers.append(vocabulary.binary_words(binary))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads == [binary]
    assert len(answers) == 6
    assert len({id(answer) for answer in answers}) == 1


def test_a_missing_binary_has_no_words(cache: Path, tmp_path: Path) -> None:
    assert vocabulary.binary_words(str(tmp_path / "absent")) == frozenset()
    assert not cache.exists() or not any(cache.iterdir())
