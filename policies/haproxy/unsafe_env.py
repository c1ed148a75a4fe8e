"""Environment variables that make the dynamic loader, libc, OpenSSL, Lua or the allocator load code or read
and write files of the variable's choosing: never given to a checked process, whatever the container declares.

A workload's `env` is submitted text. HAProxy itself only expands variables in the configuration, but the
programs under it read their own: `LD_PRELOAD` makes the loader map a library before `main` (the library
could be a `binaryData` key of the mounted ConfigMap), `GCONV_PATH` makes iconv load modules, `OPENSSL_CONF`
and `OPENSSL_MODULES` make OpenSSL load providers, `LUA_CPATH` points Lua's `require` at shared objects. The
kernel layers hold against such code, but nothing submitted should choose code to run in the first place, so
these names are removed from the check's environment and the user is told (a line reading one is then
reported as not checked, never denied for it).

Sources for the list:
- glibc's `sysdeps/generic/unsecvars.h` (`UNSECURE_ENVVARS`: what the loader clears for set-uid programs),
  and every `LD_*` name (ld.so(8): the loader reads them all);
- glibc tunables (`GLIBC_TUNABLES`, CVE-2023-4911) and `MALLOC_*`; jemalloc's `MALLOC_CONF` (HAProxy 3.x
  links it in Debian) can write profiles;
- OpenSSL's openssl-env(7): `OPENSSL_*` (configuration, providers, engines, trace) and the files it may
  write (`SSLKEYLOGFILE`, `RANDFILE`), its certificate-transparency log list `CTLOG_FILE`;
- Lua's manual, section 6.3 (`LUA_PATH*`, `LUA_CPATH*`) and `LUA_INIT*` (run by `lua.c`; removed as well).
`SSL_CERT_DIR` and `SSL_CERT_FILE` stay: they only name a CA store (read, never executed) and change what
HAProxy 3.4 accepts, so removing them would change the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

UNSECURE_NAMES: Final = frozenset(
    {
        # glibc unsecvars.h
        "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
        "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR",
        # allocators
        "MALLOC_CONF", "JE_MALLOC_CONF", "MALLOC_CHECK_", "MALLOC_PERTURB_",
        # OpenSSL files outside the OPENSSL_ prefix
        "SSLKEYLOGFILE", "RANDFILE", "CTLOG_FILE",
    }
)  # fmt: skip
UNSECURE_PREFIXES: Final = ("LD_", "OPENSSL_", "LUA_PATH", "LUA_CPATH", "LUA_INIT", "MALLOC_ARENA_", "GLIBC_")


def unsecure(name: str) -> bool:
    """Whether `name` lets its value choose code to load or files to read or write below HAProxy."""
    return name in UNSECURE_NAMES or name.startswith(UNSECURE_PREFIXES)


def unsecure_names(names: Iterable[str]) -> tuple[str, ...]:
    """The unsecure names among `names`, sorted."""
    return tuple(sorted(name for name in names if unsecure(name)))
