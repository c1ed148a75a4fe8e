"""Importing this module makes the process run the `.py` source of every module the build compiles
(`haproxy_guard.native.COMPILED`) instead of its compiled form: the pure-Python side of the differential
test in `tests/test_native.py` (`python -c "import tests.pure_python; ..."`)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from haproxy_guard import native

ROOT = Path(native.__file__).resolve().parent.parent


class _SourceFirst(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.sources = {name: ROOT / path for name, path in zip(native.module_names(), native.COMPILED, strict=True)}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        return None if source is None else importlib.util.spec_from_file_location(fullname, source)


if any(name in sys.modules for name in native.module_names()):
    raise RuntimeError("tests.pure_python must be imported before the engine")
sys.meta_path.insert(0, _SourceFirst())
