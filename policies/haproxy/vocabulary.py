"""HAProxy's own vocabulary: whether a word is one of the words of the printable strings in a validator binary.

A message of `haproxy -c` is shown only when each of its words is in the submission or in the binary that
printed it (see `validator._Vocabulary`), so nothing from outside the two is echoed. Reading every word of a
binary costs 0.1-0.15 s of CPU (a scan of 3-6 MB), once per binary and process: a command line checking with
five branches paid it on every call, a fifth of an `audit` of 1,000 releases. Yet the messages of a whole
audit ask for about ten words per binary that the submission lacks ("for", "has", "ignored"...), so each word
is looked up on its own (`knows`): the binary is searched for it (a common word is found near the start, an
absent one costs one pass, about 2 ms), and the answer is kept. The search gives exactly the answer of the
word list (`read_words`; the tests compare both). A process that has searched `MAX_SEARCHES` words in one
binary reads its whole word list instead, so hostile messages full of unknown words cost at most that.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from haproxy_guard.policies.haproxy import binary_facts

MAX_SEARCHES = 256
"""Words searched one by one in a binary before its whole word list is read (0.5 s of searching at most)."""
MAX_ANSWERS = 65536
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{3,}")
_WORD_BYTES = re.compile(rb"[A-Za-z0-9_]+")
_LOCK = threading.Lock()
_CONTENTS: dict[str, bytes] = {}
_SEARCHES: dict[str, int] = {}
_WORD_LISTS: dict[str, frozenset[str]] = {}
_ANSWERS: dict[tuple[str, str], bool] = {}


def read_words(binary: str) -> frozenset[str]:
    """The words of every printable run (3 bytes or more) in the file: what `strings` shows, split in words."""
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return frozenset()
    found = set(_WORD_BYTES.findall(b"\0".join(_PRINTABLE_RUN.findall(data))))
    return frozenset(word.decode("ascii") for word in found)


def _printable(byte: int) -> bool:
    return 0x20 <= byte <= 0x7E


def contains_word(data: bytes, word: bytes) -> bool:
    """Whether `word` occurs in `data` as a whole word (no word character either side) inside a printable run
    of at least 3 bytes, which is exactly when `read_words` would list it.

    The occurrences are found by one regular expression (whole words only, in C): a common short word such
    as `for` is part of thousands of longer words in a binary, which a loop over `bytes.find` walked one by
    one in Python (20 ms for `for` in HAProxy 2.8, a tenth of an audit's validator work)."""
    if not word:
        return False
    length = len(word)
    literal = re.escape(word)
    # the literal first (the engine then skips to its occurrences), the neighbours checked after it
    for match in re.finditer(literal + rb"(?![A-Za-z0-9_])(?<![A-Za-z0-9_]" + literal + rb")", data):
        if length >= 3:
            return True  # word characters are printable: the run is the word itself, at least
        # a one- or two-letter word: its printable run must reach 3 bytes with its neighbours
        found, end, size = match.start(), match.end(), len(data)
        left = 0
        while left < 2 and found - left - 1 >= 0 and _printable(data[found - left - 1]):
            left += 1
        right = 0
        while right < 2 and end + right < size and _printable(data[end + right]):
            right += 1
        if length + left + right >= 3:
            return True
    return False


def _contents(binary: str) -> bytes:
    """The binary's bytes, read once (a copy, not a mapping: a binary rewritten in place while mapped would
    kill the process with SIGBUS at the next search)."""
    contents = _CONTENTS.get(binary)
    if contents is None:
        try:
            contents = Path(binary).read_bytes()
        except OSError:
            contents = b""
        _CONTENTS[binary] = contents
    return contents


def knows(binary: str, word: str) -> bool:
    """Whether `word` (letters, digits, `_`) is in the binary's vocabulary, i.e. `word in read_words(binary)`."""
    key = (binary, word)
    answer = _ANSWERS.get(key)
    if answer is not None:
        return answer
    with _LOCK:
        answer = _ANSWERS.get(key)  # another thread may have answered while this one waited
        if answer is not None:
            return answer
        words = _WORD_LISTS.get(binary)
        recorded = binary_facts.word(binary, word) if words is None else None
        if words is not None:
            answer = word in words
        elif recorded is not None:
            answer = recorded
        elif _SEARCHES.get(binary, 0) >= MAX_SEARCHES:
            words = _WORD_LISTS[binary] = read_words(binary)
            answer = word in words
        else:
            _SEARCHES[binary] = _SEARCHES.get(binary, 0) + 1
            answer = word.isascii() and contains_word(_contents(binary), word.encode("ascii"))
        if recorded is None:
            binary_facts.remember_word(binary, word, answer)
        if len(_ANSWERS) >= MAX_ANSWERS:
            _ANSWERS.clear()
        _ANSWERS[key] = answer
    return answer
