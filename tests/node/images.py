"""Container images for the node tests, built without a registry or a container engine: each is a
docker-archive (`manifest.json`, an image config, one layer) that `ctr images import` loads into the node's
containerd.

- `localhost/pause:node`: the pause program compiled static from the Kubernetes release (scripts/build-e2e.sh);
- `localhost/haproxy:2.6` and `localhost/haproxy:3.2`: the HAProxy binaries the validators already hold (2.6 is
  Debian's `/usr/sbin/haproxy` with the libraries `ldd` lists; 3.2 is the validator's whole Debian root with its
  own C library), with `sleep` and `sh` (Debian's coreutils and dash) for exec preStop hooks, `STOPSIGNAL SIGUSR1` and the official image's command (`haproxy -W -db -f
  /usr/local/etc/haproxy/haproxy.cfg`).

Run by scripts/build-node-images.sh (`make e2e-node`), never inside a test: `python -m tests.node.images OUT`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / ".cache" / "e2e"
VALIDATORS = ROOT / ".cache" / "validators"
HAPROXY_COMMAND = ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
PAUSE = "localhost/pause:node"
HAPROXY_BRANCHES = ("2.6", "3.2")


def haproxy_image(branch: str) -> str:
    return f"localhost/haproxy:{branch}"


@dataclass
class Layer:
    """Files of one layer: path in the image -> (bytes or a host file, mode); symlinks path -> target."""

    files: dict[str, tuple[Path | bytes, int]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def add_file(self, path: str, source: Path | bytes, mode: int = 0o755) -> None:
        self.files[path.lstrip("/")] = (source, mode)

    def add_tree(self, source: Path, under: str = "") -> None:
        for folder, _, names in os.walk(source):
            for name in names:
                host = Path(folder) / name
                inside = f"{under.strip('/')}/{host.relative_to(source)}".lstrip("/")
                if host.is_symlink():
                    self.links[inside] = str(host.readlink())
                else:
                    self.files[inside] = (host, host.stat().st_mode & 0o777)

    def tar(self) -> bytes:
        """A reproducible tar (sorted, no owners or times), parent folders included."""
        buffer = io.BytesIO()
        folders = sorted(
            {str(Path(p).parents[i]) for p in [*self.files, *self.links] for i in range(len(Path(p).parents) - 1)}
        )
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for folder in folders:
                info = tarfile.TarInfo(folder)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            for path in sorted(self.links):
                info = tarfile.TarInfo(path)
                info.type, info.linkname = tarfile.SYMTYPE, self.links[path]
                archive.addfile(info)
            for path in sorted(self.files):
                source, mode = self.files[path]
                data = source if isinstance(source, bytes) else source.read_bytes()
                info = tarfile.TarInfo(path)
                info.size, info.mode = len(data), mode
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


def write_archive(path: Path, tag: str, layer: Layer, config: dict[str, object]) -> None:
    """A docker-archive holding one image: `tag`, one layer, `config` as the container configuration."""
    layer_bytes = layer.tar()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    image_config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "tests/node/images.py"}],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(image_config).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with tarfile.open(partial, mode="w") as archive:
        for name, data in ((config_name, image_config), (layer_name, layer_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    partial.replace(path)


def _ldd(binary: Path, root: Path | None = None) -> list[Path]:
    """The shared libraries `binary` loads and its loader, as `ldd` resolves them on this machine, or with
    `root` as the validators run it (`ROOT/.../ld-linux --library-path ROOT/usr/lib/<triplet>`, so what the
    root lacks comes from this machine)."""
    command = ["ldd", str(binary)]
    if root is not None:
        libraries = root / "usr" / "lib" / "x86_64-linux-gnu"
        command = [str(libraries / "ld-linux-x86-64.so.2"), "--library-path", str(libraries), "--list", str(binary)]
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = [Path(m) for m in re.findall(r"=> (/\S+)", listing)]
    if root is None:  # with a root, its own loader runs the binary (the listing's loader line is this machine's)
        found += [Path(m) for m in re.findall(r"^\s*(/\S*ld-linux\S*)", listing, re.MULTILINE)]
    return found


def _etc() -> Layer:
    layer = Layer()
    layer.add_file(
        "etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\nhaproxy:x:99:99::/var/lib/haproxy:/sbin/nologin\n", 0o644
    )
    layer.add_file("etc/group", b"root:x:0:\nhaproxy:x:99:\n", 0o644)
    layer.add_file("var/lib/haproxy/.keep", b"", 0o644)
    layer.add_file("usr/local/etc/haproxy/.keep", b"", 0o644)
    return layer


def pause_layer() -> Layer:
    layer = Layer()
    layer.add_file("pause", E2E / "pause")
    return layer


def haproxy_layer(branch: str) -> Layer:
    """HAProxy `branch` with what it loads, in a merged-/usr layout (`/lib` -> `usr/lib`, the loader at
    `/lib64/ld-linux-x86-64.so.2`)."""
    layer = _etc()
    for tool, name in ((Path("/usr/bin/sleep"), "sleep"), (Path("/usr/bin/dash"), "sh")):
        layer.add_file(f"usr/bin/{name}", tool)  # an exec preStop (`sleep N`, `sh -c`) needs them
    layer.links["bin"] = "usr/bin"
    layer.links["sbin"] = "usr/sbin"
    layer.links["lib"] = "usr/lib"
    layer.links["lib64/ld-linux-x86-64.so.2"] = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    if branch == "2.6":
        binary = Path("/usr/sbin/haproxy")
        layer.add_file("usr/sbin/haproxy", binary)
        for library in {*_ldd(binary), *_ldd(Path("/usr/bin/sleep")), *_ldd(Path("/usr/bin/dash"))}:
            real = library.resolve()
            layer.add_file(f"usr/lib/x86_64-linux-gnu/{library.name}", real)
        return layer
    root = VALIDATORS / branch / "root"
    layer.add_file("usr/sbin/haproxy", root / "usr/sbin/haproxy")
    layer.add_tree(root / "usr" / "lib", "usr/lib")
    for library in _ldd(root / "usr/sbin/haproxy", root):
        if root not in library.parents:  # what the validator's root lacks (zlib) comes from this machine, as there
            layer.add_file(f"usr/lib/x86_64-linux-gnu/{library.name}", library.resolve())
    return layer


def haproxy_config() -> dict[str, object]:
    return {
        "Entrypoint": HAPROXY_COMMAND[:1],
        "Cmd": HAPROXY_COMMAND[1:],
        "StopSignal": "SIGUSR1",
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    }


def build(out: Path) -> list[Path]:
    written = [out / "pause.tar"]
    write_archive(written[0], PAUSE, pause_layer(), {"Entrypoint": ["/pause"]})
    for branch in HAPROXY_BRANCHES:
        path = out / f"haproxy-{branch}.tar"
        write_archive(path, haproxy_image(branch), haproxy_layer(branch), haproxy_config())
        written.append(path)
    return written


if __name__ == "__main__":
    for built in build(Path(sys.argv[1])):
        print(f"build-node-images: {built} ({built.stat().st_size // 1024} KiB)")
