"""Build hook: the admission hot path compiled to C with mypyc, with the pure-Python modules as the fallback.

Everything else about the package is in pyproject.toml. The modules in `haproxy_guard/native.py`'s
`COMPILED` run on every admission and every audited workload (detection, the fixes, the copy and the patch
diff); compiled, a `/mutate` review costs about a third less CPU (bench/README.md). Their `.py` files are
installed too and run wherever no compiled module was built:
- `HAPROXY_GUARD_COMPILE=0` builds the pure-Python package (no C compiler needed);
- without a C compiler or Python's headers, the build says so and installs the pure-Python package;
- with them, a compilation error fails the build (a defect to fix, never silently slower).
The serve log's first lines and `haproxy-guard --version` say which one runs.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
import sysconfig
from pathlib import Path
from typing import Any

from setuptools import setup

BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}
"""The setup.py commands that compile; pip also runs it for metadata (egg_info, dist_info), which needs none."""
IN_PLACE = {"editable_wheel", "develop", "--inplace"}
"""The builds that compile beside the sources (`pip install -e`); any other build (a wheel, the image)
compiles into its own build folder and leaves the source tree as it is."""


def _cannot_compile() -> str | None:
    """Why this build cannot compile C extensions, or None when it can."""
    if os.environ.get("HAPROXY_GUARD_COMPILE", "1") == "0":
        return "HAPROXY_GUARD_COMPILE=0"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h)"
    return None


def _clean(root: Path) -> None:
    """Remove what an earlier editable build compiled beside the sources (and its digests): a module dropped
    from COMPILED, or built against another runtime, must not shadow its `.py`."""
    for package in ("haproxy_guard", "policies", "webhook", "cli", "certs", "drill"):
        for built in (root / package).rglob("*.so"):
            built.unlink()
    (root / "haproxy_guard" / "native.lock").unlink(missing_ok=True)


def _extensions(root: Path) -> list[Any]:
    """The extension modules to build: mypyc's, or none (metadata only, or no compiler)."""
    if not BUILDS.intersection(sys.argv):
        return []
    # setuptools copies whatever its build folder holds into the wheel: a module compiled by an earlier build
    # and dropped from COMPILED since would be installed beside its source, and shadow it
    shutil.rmtree(root / "build", ignore_errors=True)
    in_place = bool(IN_PLACE.intersection(sys.argv))
    if in_place:
        _clean(root)
    reason = _cannot_compile()
    if reason is not None:
        # All or nothing: the compiled modules share one runtime library, so none is built when it cannot be
        print(f"haproxy-guard: {reason}: building the pure-Python package", file=sys.stderr)
        return []
    from mypyc.build import mypycify  # noqa: PLC0415 - a build requirement (pyproject.toml), only for builds

    native = runpy.run_path(str(root / "haproxy_guard" / "native.py"))
    if in_place:  # `haproxy_guard/native.lock`: for the tests to notice a source changed since (test_native.py)
        digests = {path: native["digest"](root / path) for path in native["COMPILED"]}
        (root / "haproxy_guard" / "native.lock").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    # mypy's own settings, not the project's [tool.mypy] (its pydantic plugin is not a build requirement):
    # what the compiled modules import from outside them and is not installed here is typed Any
    options = ["--config-file", os.devnull, "--ignore-missing-imports"]
    extensions: list[Any] = mypycify([*options, *native["COMPILED"]], group_name=native["GROUP"], opt_level="3")
    return extensions


setup(ext_modules=_extensions(Path(__file__).resolve().parent))
