"""The launcher that puts `haproxy -c` behind kernel boundaries, then becomes it (execve).

Run as its own process, never imported by the server for its side effects: the server starts
`python -I -S jail.py SPEC -- BINARY ARGS...` (standard library only, so `-S` keeps start-up short), and this
file, single-threaded and between its start and the execve, applies every layer the kernel allows:

1. resource limits: CPU seconds, address space, file size (SIGXFSZ ignored, so an oversize write fails
   instead of killing), open files, no core files, and no new processes where the limit applies (non-root);
2. new user + network namespaces when the runtime allows them (an empty network: no interface, no route);
   a new PID namespace where the kernel allows it, with the check as its init: when the check ends, the kernel
   kills every process it started, also one in a session of its own;
3. a keeper: the launcher forks, and the child goes on to become the check while the parent waits for it as a
   child subreaper; when the check ends, the keeper kills whatever the check left behind (orphans come to it,
   whatever session or group they moved to), then exits as the check did (its status, or its signal);
   `PR_SET_NO_NEW_PRIVS` and `PR_SET_PDEATHSIG` (the check dies with the keeper, the keeper with the webhook);
4. Landlock: read only the libraries, the binary, a few public files and the sandbox folder; execute only
   the binary and its loader; write nowhere but /dev/null; no TCP bind or connect; no signals or abstract sockets outside;
5. a seccomp filter (libseccomp): no execve except the one below, no new process or session, no ptrace, no
   namespace or mount changes, no kernel modules, no connect/bind/sendmsg and no sendto with an address,
   only Unix and IP socket families, no io_uring, no userfaultfd, no bpf, and no memory beyond the
   address-space limit (no memfd, System V or POSIX shared memory or queues, no pipe grown past its
   default). The fork server compiles it (and the path buffer the one execve must be given) once per
   program before forking; a child loads it.

The layers that took effect are written as one JSON line to the status descriptor, which closes on execve.
When a layer marked required fails, the launcher exits with status 111 and never runs the binary.
SPEC is a list of options before `--` (no `json`, no `re`: every import costs start-up time on each check):
`--read FILE`, `--write FILE` (read and write one existing file, such as `/dev/null`), `--read-dir DIR`, `--exec FILE`, `--rlimit NAME=VALUE`, `--require LAYER`, `--disable LAYER`
(repeatable), `--status-fd N` and `--env-fd N` (the checked process's environment, applied only at the
execve: this launcher always starts with an empty environment, so nothing submitted reaches the loader, libc
or Python before the layers are in force). `--disable` leaves layers out on purpose: the tests use it to prove each
layer holds on its own, and to see `--require` refuse to run.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys

REFUSED_EXIT = 111

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are shared by every architecture.
_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_ALL_ABI1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_NEWNS, _CLONE_THREAD = 0x10000000, 0x40000000, 0x00020000, 0x00010000
_CLONE_NEWPID = 0x20000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
_MNT_DETACH, _SYS_PIVOT_ROOT = 2, 155  # pivot_root: x86-64 (arm64 is 41)
_F_SETPIPE_SZ = 1031
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 1, 38, 22, 2
_PR_SET_CHILD_SUBREAPER = 36
_MAX_SWEEPS = 1000  # rounds of killing what is left (each kills every process that is a child then)
_SIGKILL, _SIGXFSZ, _SIG_IGN = 9, 25, 1  # the `signal` module would import `enum`: numbers of x86-64 and arm64

# libseccomp (seccomp.h)
_ACT_ALLOW = 0x7FFF0000
_CMP_NE, _CMP_GT, _CMP_EQ, _CMP_MASKED_EQ = 1, 6, 4, 7
_AF_UNIX, _AF_INET, _AF_INET6 = 1, 2, 10
_EPERM, _EACCES, _ENOSYS, _EAFNOSUPPORT = 1, 13, 38, 97

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "perf_event_open", "bpf",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount", "fsconfig", "move_mount",
    "open_tree", "mount_setattr", "setsid", "setpgid", "fork", "vfork", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "name_to_handle_at", "open_by_handle_at", "mknod", "mknodat", "syslog", "iopl", "ioperm", "uselib",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "personality", "connect", "bind", "listen",
    "accept", "accept4", "sendmsg", "sendmmsg", "fanotify_init", "lookup_dcookie", "vmsplice",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp",
    # memory RLIMIT_AS does not count: anonymous files (unmapped shmem: 1,024 x 4 MiB memfds pinned 2 GiB under
    # a 1 GiB limit), System V shared memory, message queues and POSIX queues (they outlive the process)
    "memfd_create", "memfd_secret", "shmget", "shmat", "msgget", "msgsnd", "semget", "mq_open", "mq_timedsend",
)  # fmt: skip


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _errno_action(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


def _rlimits(limits: dict[str, int]) -> None:
    _libc.signal(_SIGXFSZ, _SIG_IGN)  # an oversize write fails with EFBIG (an ignored signal stays so across exec)
    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        resource.setrlimit(which, (value, value))


def _namespaces() -> bool:
    """A new user, mount and network namespace (no interface, not even loopback up); the user namespace maps
    this process's own uid and gid (the private root's folders are created as them)."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS) == 0:
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as handle:
                    handle.write(text)
        except OSError:
            pass  # the mount namespace then fails to build, and says so
        return True
    if _libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS) == 0:  # root without user namespaces
        return True
    return bool(_libc.unshare(_CLONE_NEWNET) == 0)


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int, data: bytes | None = None) -> None:
    if _libc.mount(source, target.encode(), kind, flags, data) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _mirror(path: str, folder: str, folder_fd: int) -> None:
    """Show `path` at the same place in the new root being built on `folder`: a bind mount, read-only (a
    linked folder, `/lib -> usr/lib`, as the same link: its target is mirrored on its own)."""
    target = folder + path
    if path != folder and os.path.islink(path) and os.path.isdir(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.readlink(path), target)
        return
    source = f"/proc/self/fd/{folder_fd}" if path == folder else path
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    _mount(source.encode(), target, None, _MS_BIND)  # not recursive: the new root sits on `folder`
    _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID)


def _private_root(folder: str, paths: list[str]) -> bool:
    """Make this mount namespace's root a tmpfs that holds only `paths` (what Landlock allows: the sandbox
    folder, the libraries, the binary, a few public files), each at its own path, read-only: `stat()` of any
    other host path then fails (Landlock governs opening, not `stat`). False when the namespace or the
    privilege to mount in it is missing (most pods), and nothing changed then."""
    folder_fd = os.open(folder, os.O_PATH | os.O_CLOEXEC)
    try:
        _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
        _mount(b"tmpfs", folder, b"tmpfs", _MS_NOSUID | _MS_NODEV, b"mode=0755,size=1m")
    except OSError:
        os.close(folder_fd)
        return False
    try:
        linked = {os.path.realpath(path) for path in paths if os.path.islink(path) and os.path.isdir(path)}
        mirrored: list[str] = []
        for path in sorted({*paths, *linked, folder}):
            if any(path == done or path.startswith(done.rstrip("/") + "/") for done in mirrored):
                continue  # already visible through a folder above it (or a link to one)
            try:
                _mirror(path, folder, folder_fd)
            except OSError:
                continue  # not there, or not mountable: not visible in the check (Landlock agrees)
            if os.path.isdir(path):
                mirrored.append(path)
        os.chdir(folder)
        if _libc.syscall(_SYS_PIVOT_ROOT, b".", b".") != 0:
            raise OSError(ctypes.get_errno(), "pivot_root")
        if _libc.umount2(b".", _MNT_DETACH) != 0:  # the old root, stacked on the new one: gone
            raise OSError(ctypes.get_errno(), "umount the old root")
        os.chdir(folder)
    except OSError:
        os._exit(REFUSED_EXIT)  # half built: nothing may run in it (the status says nothing was applied)
    finally:
        os.close(folder_fd)
    return True


def _landlock(read_files: list[str], write_files: list[str], read_dirs: list[str], executables: list[str]) -> int:
    """Apply the ruleset; the Landlock ABI version in force, 0 when unavailable."""
    abi = _libc.syscall(_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    if abi < 1:
        return 0
    fs = _FS_ALL_ABI1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    fs |= _FS_IOCTL_DEV if abi >= 5 else 0
    attr = _RulesetAttr(fs, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0, 0)
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return 0
    rules = [(path, _FS_READ_FILE) for path in read_files]
    rules += [(path, _FS_READ_FILE | _FS_WRITE_FILE) for path in write_files]
    rules += [(path, _FS_READ_FILE | _FS_READ_DIR) for path in read_dirs]
    rules += [(path, _FS_READ_FILE | _FS_EXECUTE) for path in executables]
    for path, access in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # absent on this system: nothing to allow
        beneath = _PathBeneath(access, fd)
        if _libc.syscall(_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(beneath), 0) != 0:
            # a file can only take file rights; a directory gets what was asked
            beneath.allowed_access = access & (_FS_READ_FILE | _FS_WRITE_FILE | _FS_EXECUTE)
            _libc.syscall(_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(beneath), 0)
        os.close(fd)
    if _libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
        return 0
    os.close(ruleset)
    return int(abi)


_LIBSECCOMP: list[ctypes.CDLL | None] = []


def _load_libseccomp() -> ctypes.CDLL | None:
    """libseccomp, loaded once per process and before Landlock closes the file system (its soname, no
    search: no subprocess)."""
    if not _LIBSECCOMP:
        try:
            _LIBSECCOMP.append(ctypes.CDLL("libseccomp.so.2", use_errno=True))
        except OSError:
            _LIBSECCOMP.append(None)
    return _LIBSECCOMP[0]


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _compile_filter(lib: ctypes.CDLL | None, exec_path_address: int) -> bytes | None:
    """The filter as a BPF program (libseccomp builds and exports it: about 1.8 ms of a check's CPU, so the
    fork server compiles it once per binary, see `prepared_exec`); None when libseccomp is unavailable."""
    if lib is None:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_rule_add_array.argtypes = (
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ScmpArgCmp),
    )  # fmt: skip
    context = lib.seccomp_init(_ACT_ALLOW)
    if not context:
        return None

    def rule(action: int, syscall: str, *comparisons: tuple[int, int, int, int]) -> None:
        number = lib.seccomp_syscall_resolve_name(syscall.encode())
        if number < 0:
            return  # not a syscall on this architecture
        array = (_ScmpArgCmp * max(1, len(comparisons)))(*(_ScmpArgCmp(*c) for c in comparisons))
        if lib.seccomp_rule_add_array(context, action, number, len(comparisons), array) != 0:
            raise OSError(f"seccomp rule for {syscall} refused")

    try:
        for syscall in DENIED_SYSCALLS:
            rule(_errno_action(_EPERM), syscall)
        # the one execve allowed is ours, below; anything else (a payload) is refused
        rule(_errno_action(_EPERM), "execve", (0, _CMP_NE, exec_path_address, 0))
        rule(_errno_action(_EPERM), "execveat")
        # threads only: a clone without CLONE_THREAD would be a new process; clone3 falls back to clone
        rule(_errno_action(_EPERM), "clone", (0, _CMP_MASKED_EQ, _CLONE_THREAD, 0))
        rule(_errno_action(_ENOSYS), "clone3")
        rule(_errno_action(_EACCES), "sendto", (4, _CMP_NE, 0, 0))
        rule(_errno_action(_EPERM), "fcntl", (1, _CMP_EQ, _F_SETPIPE_SZ, 0))  # pipe buffers stay at their default
        rule(_errno_action(_EAFNOSUPPORT), "socket", (0, _CMP_GT, _AF_INET6, 0))
        for family in (0, *range(_AF_INET + 1, _AF_INET6)):
            rule(_errno_action(_EAFNOSUPPORT), "socket", (0, _CMP_EQ, family, 0))
        exported = os.memfd_create("haproxy-guard-seccomp", os.MFD_CLOEXEC)
        try:
            if lib.seccomp_export_bpf(ctypes.c_void_p(context), exported) != 0:
                return None
            os.lseek(exported, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(exported, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(exported)
    except OSError:
        return None
    finally:
        lib.seccomp_release(ctypes.c_void_p(context))
    program = b"".join(chunks)
    return program if program and len(program) % 8 == 0 else None


def _install_filter(program: bytes | None) -> bool:
    """Load a program from `_compile_filter` (needs no_new_privs); False when seccomp is unavailable."""
    if program is None:
        return False
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(instructions))
    return bool(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0)


_PREPARED: dict[str, tuple[ctypes.Array[ctypes.c_char], bytes | None]] = {}
_MAX_PREPARED = 16


def prepared_exec(lib: ctypes.CDLL | None, program_path: str) -> tuple[ctypes.Array[ctypes.c_char], bytes | None]:
    """The path buffer execve will be given and the filter that allows execve of that buffer alone, made once
    per program in this process: a child forked from here finds both at the same addresses."""
    prepared = _PREPARED.get(program_path)
    if prepared is None:
        if len(_PREPARED) >= _MAX_PREPARED:
            _PREPARED.clear()
        path = ctypes.create_string_buffer(os.fsencode(program_path))
        prepared = _PREPARED[program_path] = (path, _compile_filter(lib, ctypes.addressof(path)))
    return prepared


def _children_file() -> int:
    """A descriptor of this process's list of children (`/proc/self/task/TID/children`, read again from its
    start each time), opened before the check can hide /proc; -1 where the kernel has no such list."""
    try:
        return os.open(f"/proc/self/task/{os.getpid()}/children", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def children_of(listing: int) -> list[int]:
    """The pids in a children list (see `_children_file`), or those whose parent is this process (a /proc
    scan) where there is no list."""
    if listing >= 0:
        chunks, offset = [], 0
        while chunk := os.pread(listing, 1 << 16, offset):
            chunks.append(chunk)
            offset += len(chunk)
        return [int(word) for word in b"".join(chunks).split()]
    found, own = [], os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 1 and int(fields[1]) == own:
                found.append(int(entry))
    return found


def sweep(listing: int, keep: frozenset[int] = frozenset()) -> int:
    """Kill and reap every child of this process but `keep` (a subreaper's orphans: what a check left), round
    after round until none is left: a process killed while its own children live hands them to us. The
    number killed."""
    killed = 0
    for _ in range(_MAX_SWEEPS):
        targets = [pid for pid in children_of(listing) if pid not in keep]
        if not targets:
            break
        for pid in targets:
            try:
                os.kill(pid, _SIGKILL)
                killed += 1
            except OSError:
                continue
        for pid in targets:
            try:
                os.waitpid(pid, 0)
            except OSError:
                continue
    return killed


def _exit_as(status: int) -> None:
    """Exit as a process whose wait status is `status` did: the same code, or the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        _libc.signal(number, 0)  # SIG_DFL (no core file: RLIMIT_CORE is 0)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _keeper() -> None:
    """Fork. The child returns and becomes the check. This process stays outside it as the check's parent, a
    child subreaper holding no descriptor of the check's: it waits for the check, kills what the check left
    (in a PID namespace the kernel did so already), and exits as the check did. It never returns."""
    _libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)  # the keeper dies with whoever started it
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    listing = _children_file()
    child = os.fork()
    if child == 0:
        if listing >= 0:
            os.close(listing)
        return
    top = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    os.closerange(0, listing if listing >= 0 else top)
    os.closerange(listing + 1 if listing >= 0 else top, top)
    status = 0
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            break
    sweep(listing)
    _exit_as(status)


OPTIONS = ("read", "write", "read-dir", "exec", "rlimit", "require", "disable", "status-fd", "env-fd")


def parse_options(words: list[str]) -> dict[str, list[str]]:
    """`--name value` pairs into lists per name (see SPEC above)."""
    options: dict[str, list[str]] = {name: [] for name in OPTIONS}
    for index in range(0, len(words) - 1, 2):
        name = words[index].removeprefix("--")
        if name not in options:
            raise SystemExit(f"haproxy-guard jail: unknown option {words[index]}")
        options[name].append(words[index + 1])
    return options


def _status_json(layers: dict[str, bool | int], missing: list[str]) -> str:
    """The status line; names and values are ours (no quoting needed), so no `json` import."""
    values = ", ".join(
        f'"{name}": {str(value).lower() if isinstance(value, bool) else value}' for name, value in layers.items()
    )
    return '{"layers": {' + values + '}, "missing": [' + ", ".join(f'"{name}"' for name in missing) + "]}"


def read_environment(fd: int) -> list[bytes]:
    """The checked process's environment from its descriptor (NUL-terminated `NAME=VALUE` entries), which is
    closed: it is applied only at the final execve, never to this launcher."""
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return [entry for entry in b"".join(chunks).split(b"\0") if b"=" in entry[1:]]


def launch(words: list[str]) -> int:
    """Apply the layers SPEC asks for (`words` is `SPEC -- BINARY ARGS`), then become the binary with the
    environment read from `--env-fd` (none without it); returns only when a required layer is missing or the
    binary cannot run."""
    separator = words.index("--")
    spec = parse_options(words[:separator])
    command = words[separator + 1 :]
    environment = read_environment(int(spec["env-fd"][0])) if spec["env-fd"] else []
    required, disabled = set(spec["require"]), set(spec["disable"])
    status_fd = int(spec["status-fd"][0]) if spec["status-fd"] else None
    layers: dict[str, bool | int] = {}

    libseccomp = _load_libseccomp()
    _rlimits({name: int(value) for name, _, value in (item.partition("=") for item in spec["rlimit"])})
    layers["rlimits"] = True
    layers["network_namespace"] = "network_namespace" not in disabled and _namespaces()
    # after the user namespace, which grants it where unprivileged; the next process forked is its init
    layers["pid_namespace"] = "pid_namespace" not in disabled and _libc.unshare(_CLONE_NEWPID) == 0
    _keeper()  # from here on, this is the child that becomes the check
    layers["mount_namespace"] = (
        layers["network_namespace"]
        and "mount_namespace" not in disabled
        and _private_root(
            os.getcwd(),
            [
                *spec["read"],
                *spec["write"],
                *spec["read-dir"],
                *spec["exec"],
                *(w for w in command[:4] if w[:1] == "/"),
            ],
        )
    )
    layers["no_new_privs"] = _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    _libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    layers["landlock"] = 0
    if "landlock" not in disabled:
        layers["landlock"] = _landlock(spec["read"], spec["write"], spec["read-dir"], spec["exec"])

    path, program = prepared_exec(libseccomp, command[0])
    arguments = [ctypes.create_string_buffer(os.fsencode(word)) for word in command]
    argv_array = (ctypes.c_void_p * (len(arguments) + 1))(*(ctypes.addressof(a) for a in arguments), None)
    env_entries = [ctypes.create_string_buffer(entry) for entry in environment]
    env_array = (ctypes.c_void_p * (len(env_entries) + 1))(*(ctypes.addressof(e) for e in env_entries), None)
    layers["seccomp"] = "seccomp" not in disabled and layers["no_new_privs"] and _install_filter(program)

    missing = sorted(layer for layer in required if not layers.get(layer))
    if status_fd is not None:
        os.write(status_fd, (_status_json(layers, missing) + "\n").encode())
    if missing:
        return REFUSED_EXIT
    if status_fd is not None:
        os.set_inheritable(status_fd, False)
    _libc.execve(path, argv_array, env_array)
    os.write(2, f"haproxy-guard jail: cannot run {command[0]}: {os.strerror(ctypes.get_errno())}\n".encode())
    return REFUSED_EXIT


# The fork server (`jail.py --serve FD`): Python's start-up and `ctypes` cost about 25 ms per launch, more
# than most `haproxy -c` runs; the server pays them once and forks a launcher per check. FD is one end of a
# SOCK_SEQPACKET pair whose other end only the webhook holds. Each request is one message,
# `CWD \0 SPEC -- BINARY ARGS` (NUL-separated), with four descriptors: the request's own reply socket, the
# output file, the status file and the environment file (see `read_environment`). The server forks; the
# child starts a new session, puts the output on 1 and 2, /dev/null on 0, the status file on 3 and the
# environment file on 4, closes every other
# descriptor (the control socket above all), and continues exactly as a directly started launcher. The
# server answers `pid P` at once and `exit STATUS` (a wait status) when it has reaped the child (and killed
# any orphan a killed keeper left: the server is a child subreaper). It exits when the webhook's end closes;
# its children die with it (PR_SET_PDEATHSIG).
_STATUS_FD, _ENV_FD = 3, 4


def _child(cwd: bytes, words: list[str], output: int, status: int, env: int) -> int:
    os.setsid()
    stdin = os.open("/dev/null", os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.dup2(status, _STATUS_FD)
    os.dup2(env, _ENV_FD)
    os.closerange(_ENV_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    os.chdir(cwd)
    separator = words.index("--")
    own = ["--status-fd", str(_STATUS_FD), "--env-fd", str(_ENV_FD)]
    return launch([*words[:separator], *own, *words[separator:]])


def _request(message: bytes) -> tuple[bytes, list[str]]:
    fields = message.split(b"\0")
    return fields[0], [os.fsdecode(word) for word in fields[1:]]


def _send(reply: int, data: bytes) -> None:
    """One message on a reply socket, best effort: the webhook may have stopped waiting (a timeout), which
    changes nothing here."""
    try:
        os.write(reply, data)
    except OSError:
        return


def _start_child(message: bytes, fds: list[int]) -> int | None:
    """Fork the launcher for one request (descriptors: reply, output, status, environment); its pid, or None."""
    try:
        cwd, words = _request(message)
        program_path = words[words.index("--") + 1]
    except (ValueError, IndexError):
        return None
    prepared_exec(_load_libseccomp(), program_path)  # compiled here once per program; the child inherits it
    pid = os.fork()
    if pid == 0:
        code = REFUSED_EXIT
        try:
            code = _child(cwd, words, fds[1], fds[2], fds[3])
        finally:
            os._exit(code)
    return pid


def serve(control_fd: int) -> int:
    import array  # noqa: PLC0415 - only the server needs them; a direct launch stays short
    import select  # noqa: PLC0415
    import socket  # noqa: PLC0415

    _load_libseccomp()  # loaded once; every child inherits it
    # a subreaper: what a check leaves when its keeper is killed (a time limit) comes here and is killed
    _libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    listing = _children_file()
    control = socket.socket(fileno=control_fd)
    children: dict[int, tuple[int, int]] = {}  # pidfd -> (pid, reply socket)
    descriptor_space = socket.CMSG_SPACE(4 * array.array("i").itemsize)
    while True:
        for ready in select.select([control_fd, *children], [], [])[0]:
            if ready != control_fd:
                pid, reply = children.pop(ready)
                os.close(ready)
                status = os.waitpid(pid, 0)[1]
                sweep(listing, frozenset(pid for pid, _ in children.values()))  # orphans, before "exit"
                _send(reply, b"exit %d" % status)
                os.close(reply)
                continue
            try:
                message, ancillary, _, _ = control.recvmsg(1 << 20, descriptor_space)
            except OSError:
                return 0
            if not message and not ancillary:
                return 0  # the webhook's end is closed
            fds = array.array("i")
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            child = _start_child(message, list(fds)) if len(fds) == 4 else None
            for fd in fds[1:]:
                os.close(fd)
            if child is None:
                if fds:
                    os.close(fds[0])
                continue
            _send(fds[0], b"pid %d" % child)
            children[os.pidfd_open(child)] = (child, fds[0])


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--serve":
        return serve(int(argv[2]))
    return launch(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
