"""HAProxy's vocabulary (the words a message may quote): a word looked up on its own in the binary gets exactly
the answer of the binary's whole word list, and hostile messages full of unknown words cost a bounded amount."""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path

import pytest

from haproxy_guard.policies.haproxy import vocabulary
from haproxy_guard.policies.haproxy.validator import discover_binaries

BINARIES = discover_binaries()


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("_CONTENTS", "_SEARCHES", "_WORD_LISTS", "_ANSWERS"):
        monkeypatch.setattr(vocabulary, name, {})


def _candidates(words: frozenset[str], seed: int) -> list[str]:
    """Words of the list, words that are not (extended, cut, case changed), and every short form."""
    rng = random.Random(seed)
    listed = sorted(words)
    sample = rng.sample(listed, 400)
    short = [word[:1] for word in rng.sample(listed, 80)] + [word[:2] for word in rng.sample(listed, 150)]
    short += ["a", "x", "Q", "_", "to", "is", "zz", "0", "12", "9_"]
    altered = [word + "q" for word in sample[:100]] + [word[1:] for word in sample[:100]]
    altered += [word.swapcase() for word in sample[:100]] + ["secretvalue", "qwertyuiopasdf", "HOSTNAME_x9"]
    return sample + short + altered


@pytest.mark.parametrize("version", sorted(BINARIES))
def test_a_word_looked_up_alone_gets_the_answer_of_the_whole_word_list(version: str) -> None:
    binary = BINARIES[version]
    words = vocabulary.read_words(binary)
    assert {"proxy", "backend", "frontend", "maxconn", "parsing"} <= words
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", word) for word in words)
    candidates = _candidates(words, seed=len(version))
    assert any(word not in words for word in candidates) and any(word in words for word in candidates)
    wrong = [word for word in candidates if vocabulary.knows(binary, word) != (word in words)]
    assert wrong == []


@pytest.mark.parametrize(
    ("data", "word", "expected"),
    [
        (b"\0ab\0", b"ab", False),  # a 2-byte run is no string
        (b"\0ab \0", b"ab", True),  # with a printable neighbour it is
        (b"\0 a \0", b"a", True),
        (b"\0a \0", b"a", False),
        (b"\0xab yz\0", b"ab", False),  # inside a longer word
        (b"\0abc", b"abc", True),  # at the end
        (b"abc_d\0 abc.", b"abc", True),  # the second occurrence is whole
        (b"\x01word\x02", b"word", True),
        (b"abc\0", b"abc", True),  # at the start
        (b"_abc abc_ xabc abcx", b"abc", False),  # every occurrence has a word character beside it
        (b"format before for", b"for", True),  # only the last occurrence is whole
        (b"a.b", b"a", True),
        (b"", b"word", False),
    ],
)
def test_whole_words_in_printable_runs(data: bytes, word: bytes, expected: bool, tmp_path: Path) -> None:
    assert vocabulary.contains_word(data, word) is expected
    binary = tmp_path / "binary"
    binary.write_bytes(data)
    assert (word.decode() in vocabulary.read_words(str(binary))) is expected


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[bytes]]:
    reads: list[str] = []
    searched: list[bytes] = []
    read, search = vocabulary.read_words, vocabulary.contains_word

    def reading(path: str) -> frozenset[str]:
        reads.append(path)
        return read(path)

    def searching(data: bytes, word: bytes) -> bool:
        searched.append(word)
        return search(data, word)

    monkeypatch.setattr(vocabulary, "read_words", reading)
    monkeypatch.setattr(vocabulary, "contains_word", searching)
    return reads, searched


def test_the_word_list_replaces_searching_after_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    binary = next(iter(BINARIES.values()))
    reads, searched = _spy(monkeypatch)
    for index in range(vocabulary.MAX_SEARCHES + 50):
        vocabulary.knows(binary, f"absentword{index}")
    assert len(searched) == vocabulary.MAX_SEARCHES
    assert reads == [binary]
    assert vocabulary.knows(binary, "backend") and not vocabulary.knows(binary, "absentword999999")
    assert reads == [binary] and len(searched) == vocabulary.MAX_SEARCHES


def test_answers_are_kept_and_shared_by_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    binary = next(iter(BINARIES.values()))
    _, searched = _spy(monkeypatch)
    answers: list[bool] = []
    threads = [threading.Thread(target=lambda: answers.append(vocabulary.knows(binary, "backend"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [True] * 6
    assert vocabulary.knows(binary, "backend")
    assert searched == [b"backend"] and len(vocabulary._ANSWERS) == 1


def test_an_unreadable_or_empty_binary_knows_no_word(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert not vocabulary.knows(str(tmp_path / "absent"), "backend")
    assert not vocabulary.knows(str(empty), "backend")
