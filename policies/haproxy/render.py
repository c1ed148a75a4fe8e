"""Renders an untrusted configuration into a private folder where `haproxy -c` can only see what we put.

What the pod would see is reproduced: the ConfigMap's other keys at their mount paths, placeholder
certificates where a Secret would provide them, and only what must be supplied is replaced, in place
(lines split on `\n` only, as HAProxy does; every other byte kept, a missing final newline too (HAProxy
refuses such a file, and so would the pod), so escapes, quotes and `$VAR` reach
HAProxy as written and it expands them itself with the container's declared environment):
- a path the bundle does not provide, where HAProxy reads a file or folder (`FILE_ARGUMENTS`,
  `CERTIFICATE_ARGUMENTS`, `DIRECTORY_ARGUMENTS`) or climbing out with `..`, is replaced by a stand-in of
  its kind inside the folder (unless the bundle knows the pod lacks it), so `acl -f /etc/...` or
  `errorfile /proc/...` check against a stand-in; the decision never looks at the webhook's own files;
- host names that HAProxy resolves while parsing (`bind`, `dgram-bind`, `log`, `source`/`usesrc`, `addr`,
  `socks4`, `dispatch`, `nameserver`, `peer`, `mailer`, `stats socket ipv4@`, `server` in peers/ring
  sections) become a loopback address of the same family, prefix and port kept; IPs, IPv6 forms, sockets
  and `server` addresses in backends (SRV records, `init-addr none`) stay as written (`-dr` makes an
  unresolved server non-fatal).
This rewriting is a convenience for faithful checks, not the security boundary: the kernel is (see
`sandbox`), and code-loading directives are refused before anything is rendered (see `directives`).
What is written is bounded: at most `MAX_PLACEHOLDERS` stand-in files (identical contents share one file
through hard links) and `MAX_RENDER_BYTES` in all; a configuration needing more gets `RenderLimitError`.
`replacements` maps each placeholder back to the text it replaced, to rewrite messages.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from haproxy_guard.policies.haproxy.addresses import stand_in
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.config import SECTION_KEYWORDS, Token, tokenize
from haproxy_guard.policies.haproxy.directives import apply_environment
from haproxy_guard.policies.haproxy.stubs import ERROR_FILE, certificate_pem, crl_pem, dh_params_pem

FILE_ARGUMENTS = frozenset(
    {"-f", "errorfile", "file", "lf-file", "map", "h1-case-adjust-file", "ssl-dh-param-file", "server-state-file"}
)
"""Arguments that name a file HAProxy reads while checking: a path the bundle does not provide gets a stand-in
(empty, or an HTTP response for `errorfile`) whether or not the webhook's host has it, since the pod gets it
from its image (the official image's `/usr/local/etc/haproxy/errors/*.http`) or another volume."""
_MAP_CONVERTER = re.compile(r"\bmap(?:_[a-z0-9]+)?\($")
MAX_PLACEHOLDERS = 4096
MAX_RENDER_BYTES = 64 * 1024 * 1024
CERTIFICATE_ARGUMENTS = frozenset(
    {"crt", "ca-file", "ca-verify-file", "ca-sign-file", "key", "issuer", "crt-list", "crl-file", "ocsp", "sctl"}
)
BASE_KEYWORDS = {"crt-base": "crt", "ca-base": "ca", "key-base": "key"}
DIRECTORY_ARGUMENTS = frozenset({"crt-base", "ca-base", "key-base", "server-state-base", "origin"})
"""Arguments naming a folder (`default-path origin DIR` included): the stand-in is an empty folder.
Whether a stand-in is made depends only on where a path is written, never on the webhook's own files, so
a check cannot tell whether a path exists on the webhook's host."""
VALUE_ADDRESSES = frozenset({"addr", "socks4", "source", "usesrc"})
"""Keywords whose next word is an address resolved while parsing (on `server`/`default-server` lines and the
`tcp-check`/`http-check connect` rules)."""
ADDRESS_VALUE_KEYWORDS = frozenset({"server", "default-server", "server-template", "tcp-check", "http-check", "source"})
_PATH_RUN = re.compile(r"[^\s,()'\"{}\[\]]+")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\}")
_ANY_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SAFE_TOKEN = re.compile(r"^[^\s#\"'\\$]+$")


class RenderLimitError(ValueError):
    """The configuration needs more stand-in files or bytes than a check may write."""


@dataclass
class Sandbox:
    root: Path
    config_names: dict[str, str] = field(default_factory=dict)  # file name in the folder -> display name
    replacements: dict[str, str] = field(default_factory=dict)  # placeholder path -> original text
    local_peer: str | None = None  # the pod's name in a peers section (HAProxy uses the host name)
    notes: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, what was not checked)


def _quote(text: str) -> str:
    if text and _SAFE_TOKEN.match(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


NOT_ADDRESSES = frozenset({"global", "stdout", "stderr"})


class _Renderer:
    def __init__(self, bundle: ConfigBundle, sandbox: Sandbox) -> None:
        self.bundle, self.sandbox = bundle, sandbox
        self.env = dict(bundle.env)
        self.section = ""
        self.bases: dict[str, str] = {}
        self.default_base: str | None = None  # `default-path`: None is the pod's working folder (unknown)
        self.placeholders: dict[tuple[str, str], str] = {}
        self.by_name = {Path(path).name: content for path, content in bundle.files.items()}
        self.by_content: dict[bytes, Path] = {}
        self.written = 0
        (sandbox.root / "files").mkdir()

    def _write(self, kind: str, original: str, content: bytes | None) -> str:
        """A file (or folder, when content is None) in the sandbox that stands for `original`."""
        key = (kind, original)
        if key not in self.placeholders:
            if len(self.placeholders) >= MAX_PLACEHOLDERS:
                raise RenderLimitError(
                    f"the configuration refers to more than {MAX_PLACEHOLDERS} files the check would have to "
                    "provide; it was not checked"
                )
            name = f"{len(self.placeholders)}-{Path(original).name or 'root'}"[:200]
            target = self.sandbox.root / "files" / name
            if content is None:
                target.mkdir()
            elif content in self.by_content:
                os.link(self.by_content[content], target)
            else:
                self.written += len(content)
                if self.written > MAX_RENDER_BYTES:
                    raise RenderLimitError(
                        f"the files the configuration refers to exceed {MAX_RENDER_BYTES // (1024 * 1024)} MiB; it was not checked"
                    )
                target.write_bytes(content)
                self.by_content[content] = target
            self.placeholders[key] = str(target)
            self.sandbox.replacements[str(target)] = original
        return self.placeholders[key]

    def _placeholder(self, original: str, argument_of: str) -> str:
        if argument_of in {"crt", "ca-file", "ca-verify-file", "ca-sign-file", "key", "issuer"}:
            return self._write("cert", original, certificate_pem())
        if argument_of == "crl-file":
            return self._write("crl", original, crl_pem())
        if argument_of == "crt-list":
            return self._write(
                "crt-list", original, self._write("cert", original + "#cert", certificate_pem()).encode() + b"\n"
            )
        if argument_of == "errorfile":
            return self._write("errorfile", original, ERROR_FILE)
        if argument_of == "ssl-dh-param-file":
            return self._write("dh", original, dh_params_pem())
        if argument_of in DIRECTORY_ARGUMENTS:
            return self._write("dir", original, None)
        return self._write("empty", original, b"")

    def _absolute(self, path: str) -> str:
        return os.path.normpath(path if path.startswith("/") else f"/{path}")

    def _provided(self, path: str) -> bytes | None:
        """The content the bundle gives for a path (relative paths are checked from the working folder)."""
        found = self.bundle.files.get(os.path.normpath(path))
        if found is None and path.startswith("/") and self.bundle.match_by_name:
            found = self.by_name.get(Path(path).name)
        return found

    def _resolve(self, run: str, argument_of: str) -> str | None:
        """The replacement for a path-like run, or None to keep it."""
        prefix = ""
        if "@/" in run:
            prefix, _, rest = run.partition("@")
            prefix, run = prefix + "@", rest
        certificate = argument_of in CERTIFICATE_ARGUMENTS
        relative = self.bundle.files.get(os.path.normpath(run)) if not run.startswith("/") else None
        if relative is not None:  # a file given relative to the working directory (check-config)
            return prefix + self._write("file", run, relative)
        file_position = certificate or argument_of in FILE_ARGUMENTS
        if "://" in run or ("/" not in run and not file_position):
            return None
        kind = {"crt": "crt", "crt-list": "crt", "ocsp": "crt", "sctl": "crt", "issuer": "crt", "key": "key"}
        base = self.bases.get(kind.get(argument_of, "ca"))
        if argument_of == "key" and base is None:
            base = self.bases.get("crt")
        if not run.startswith("/") and base and certificate:
            if self._under_base(run, base, argument_of):
                return None  # the name kept as written (a crt-store entry is known by it)
            run = f"{base.rstrip('/')}/{run}"
        elif not run.startswith("/") and file_position:
            if self.default_base is None:  # relative to the pod's working folder, unknown here
                by_name = self.by_name.get(Path(run).name) if self.bundle.match_by_name else None
                if by_name is not None:
                    return prefix + self._write("file", run, by_name)
                return prefix + self._placeholder(run, argument_of)
            run = f"{self.default_base.rstrip('/')}/{run}"
        if run.startswith("/"):
            absolute = os.path.normpath(run)
        else:
            absolute = os.path.normpath(self.sandbox.root / run)
            if absolute.startswith(str(self.sandbox.root) + os.sep):
                return None
        provided = self.bundle.files.get(absolute)
        if provided is None and self.bundle.match_by_name:
            provided = self.by_name.get(Path(absolute).name)
        if provided is not None:
            return prefix + self._write("file", absolute, provided)
        if self.bundle.known_missing(absolute):
            return None  # missing in the pod as well: HAProxy says so
        if (
            argument_of in CERTIFICATE_ARGUMENTS
            or argument_of in BASE_KEYWORDS
            or argument_of in FILE_ARGUMENTS
            or argument_of in DIRECTORY_ARGUMENTS
            or ".." in run
        ):
            return prefix + self._placeholder(run, argument_of)
        return None

    def _under_base(self, relative: str, base: str, argument_of: str) -> bool:
        """For a name relative to `crt-base`/`key-base`/`ca-base` whose folder stands in: the file (given, or
        a stand-in) placed under that folder, so HAProxy finds it by the name as written."""
        folder = self.placeholders.get(("dir", base))
        name = os.path.normpath(relative)
        if folder is None or name.startswith(".."):
            return False
        absolute = os.path.normpath(f"{base.rstrip('/')}/{name}")
        content = self.bundle.files.get(absolute)
        if content is None and self.bundle.known_missing(absolute):
            return True  # missing in the pod as well: HAProxy says so
        if content is None:
            content = self._content(absolute, argument_of)
        target = Path(folder) / name
        if str(target) not in self.sandbox.replacements:
            self.written += len(content)
            if self.written > MAX_RENDER_BYTES or len(self.sandbox.replacements) >= MAX_PLACEHOLDERS:
                raise RenderLimitError("the files the configuration refers to exceed what a check may write")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            self.sandbox.replacements[str(target)] = absolute
        return True

    def _content(self, original: str, argument_of: str) -> bytes:
        if argument_of in {"crt", "ca-file", "ca-verify-file", "ca-sign-file", "key", "issuer"}:
            return certificate_pem()
        if argument_of == "crl-file":
            return crl_pem()
        if argument_of == "crt-list":
            return self._write("cert", original + "#cert", certificate_pem()).encode() + b"\n"
        return b""

    def _replace_run(self, argument_of: str, match: re.Match[str]) -> str:
        if _MAP_CONVERTER.search(match.string, 0, match.start()):
            argument_of = "map"  # a map file in a sample expression: `%[req.hdr(host),map(/etc/x.map)]`
        return self._resolve(match.group(0), argument_of) or match.group(0)

    def _expand(self, token: Token) -> str:
        if not token.double_quoted or "${" not in token.text:
            return token.text

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("HAPROXY_") and name not in self.env:
                return match.group(0)
            return self.env.get(name, "")

        return _ENV_REFERENCE.sub(value, token.text)

    def _default_path(self, words: list[str]) -> None:
        """Where relative file names point from here on, in the pod (`default-path`): the configuration's
        folder (`config`), its parent (`parent`), a folder (`origin DIR`), or the unknown working folder."""
        folder = self.bundle.config_dir.rstrip("/") or "/"
        bases = {"config": folder, "parent": str(Path(folder).parent)}
        if words[1] == "origin" and len(words) > 2 and words[2].startswith("/"):
            self.default_base = os.path.normpath(words[2])
        else:
            self.default_base = bases.get(words[1])

    def _reads_unknown(self, raw_token: str) -> bool:
        return bool(self.bundle.unknown_env) and any(
            name in self.bundle.unknown_env for name in _ANY_REFERENCE.findall(raw_token)
        )

    def _address_indexes(self, words: list[str]) -> set[int]:
        """Indexes of the words that are addresses HAProxy resolves while parsing (fatal when the name does
        not resolve, and nothing resolves in the sandbox). A `server` address in a backend is not one: `-dr`
        makes it non-fatal, so it is kept as written (SRV records, `init-addr none` keep their meaning)."""
        keyword, found = words[0], set()
        first = {"bind": 1, "dgram-bind": 1, "dispatch": 1, "log": 1, "source": 1, "nameserver": 2, "peer": 2,
                 "mailer": 2}  # fmt: skip
        if keyword in first and not (keyword == "log" and len(words) > 1 and words[1] in NOT_ADDRESSES):
            found.add(first[keyword])
        if keyword == "server" and self.section in {"peers", "ring", "mailers", "log-forward"}:
            found.add(2)
        if keyword == "stats" and len(words) > 2 and words[1] == "socket":
            found.add(2)
        for index in range(1, len(words) - 1):
            if words[index] in VALUE_ADDRESSES and keyword in ADDRESS_VALUE_KEYWORDS:
                found.add(index + 1)
        return {index for index in found if index < len(words)}

    def line(self, display: str, number: int, raw: str) -> str:
        """The line with only what must be supplied replaced in place (paths the pod gets from elsewhere,
        host names only the pod's DNS resolves); every other byte as written, so escapes, quotes and
        environment references reach HAProxy untouched (it expands them with the container's environment)."""
        tokens = tokenize(raw)
        if not tokens:
            return raw
        keyword = tokens[0].text
        if keyword in SECTION_KEYWORDS:
            self.section = keyword
        words = [self._expand(token) for token in tokens]
        spoe = _spoe_config(words)
        if spoe is not None and self._provided(spoe) is None and not self.bundle.known_missing(self._absolute(spoe)):
            note = f"not checked: the SPOE configuration {spoe} comes from a volume the check cannot read; this filter line was left out of the check"
            self.sandbox.notes.append((display, number, note))
            return ""
        addresses = self._address_indexes(words)
        replaced: dict[int, str] = {}
        for index in range(1, len(words)):
            argument_of = words[index - 1] if index > 1 else keyword
            if keyword == "errorfile":
                argument_of = "errorfile" if index == 2 else "errorfile-status"
            rewritten = _PATH_RUN.sub(functools.partial(self._replace_run, argument_of), words[index])
            if self._reads_unknown(raw[tokens[index].start : tokens[index].end]) and (
                argument_of in CERTIFICATE_ARGUMENTS or argument_of in FILE_ARGUMENTS
            ):  # a file named from a value only the pod knows (`crt "${CERT_DIR}/x.pem"`): a stand-in
                rewritten = self._placeholder(words[index], argument_of)
            if index in addresses:
                rewritten = ",".join(stand_in(part) for part in rewritten.split(","))
            if rewritten != words[index]:
                replaced[index] = rewritten
        if keyword == "peer" and len(words) > 1 and self.sandbox.local_peer is None:
            self.sandbox.local_peer = words[1]
        if keyword in BASE_KEYWORDS and len(tokens) > 1:
            self.bases[BASE_KEYWORDS[keyword]] = tokens[1].text
        if keyword == "default-path" and len(words) > 1:
            self._default_path(words)
        apply_environment(words, self.env)
        for index in sorted(replaced, reverse=True):
            token = tokens[index]
            raw = raw[: token.start] + _quote(replaced[index]) + raw[token.end :]
        return raw


def _spoe_config(words: list[str]) -> str | None:
    """The configuration file of a `filter spoe [engine NAME] config FILE` line."""
    if len(words) < 4 or words[0] != "filter" or words[1] != "spoe" or "config" not in words[2:-1]:
        return None
    return words[words.index("config", 2) + 1]


def render(bundle: ConfigBundle, root: Path) -> Sandbox:
    """Write the bundle's configuration files into `root` (an empty private folder)."""
    sandbox = Sandbox(root)
    renderer = _Renderer(bundle, sandbox)
    for index, (display, text) in enumerate(bundle.configs):
        name = f"{index}-{Path(display).name}" if len(bundle.configs) > 1 else Path(display).name
        lines = [renderer.line(display, number, raw) for number, raw in enumerate(text.split("\n"), start=1)]
        (root / name).write_text("\n".join(lines), encoding="utf-8")  # a missing final newline stays missing
        sandbox.config_names[name] = display
    return sandbox
