"""The configuration advice haproxy-guard gives (it never rewrites a ConfigMap), applied to a copy for the
mutated run, and named in the report:

- `haproxy-idle-close`: `option idle-close-on-response` in each HTTP frontend or listen section lacking it;
- `haproxy-hard-stop-after`: `hard-stop-after <drainSeconds>s` in `global` when unset (the value the
  grace-period fix sized `terminationGracePeriodSeconds` for).
The facts are read by the same parser the policies use, per configuration file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.facts import ConfigFacts, facts_from_text
from haproxy_guard.policies.model.settings import Settings


@dataclass(frozen=True)
class Advice:
    policy: str
    change: str

    def __str__(self) -> str:
        return f"{self.change} ({self.policy})"


def _insert_after(text: str, line_numbers: list[int], added: str) -> str:
    lines = text.split("\n")
    for number in sorted(line_numbers, reverse=True):
        lines.insert(number, added)
    return "\n".join(lines)


def advise(bundle: ConfigBundle, joined: ConfigFacts, settings: Settings) -> tuple[ConfigBundle, list[Advice]]:
    """The bundle with the advice applied, and what was applied."""
    advice: list[Advice] = []
    configs = list(bundle.configs)
    for index, (name, text) in enumerate(configs):
        facts = facts_from_text(text)
        if facts.http_without_idle_close:
            configs[index] = (name, _insert_after(text, [found.line for found in facts.http_without_idle_close],
                                                  "    option idle-close-on-response"))  # fmt: skip
            advice += [
                Advice("haproxy-idle-close", f"{name}: option idle-close-on-response in {found.what}")
                for found in facts.http_without_idle_close
            ]
    if joined.hard_stop_after_seconds is None and configs:
        name, text = configs[0]
        lines = text.split("\n")
        line = f"    hard-stop-after {settings.drain_seconds}s"
        globals_ = [number for number, raw in enumerate(lines, start=1) if raw.split()[:1] == ["global"]]
        text = _insert_after(text, globals_[:1], line) if globals_ else "global\n" + line + "\n" + text
        configs[0] = (name, text)
        advice.append(Advice("haproxy-hard-stop-after", f"{name}: hard-stop-after {settings.drain_seconds}s in global"))
    return replace(bundle, configs=tuple(configs)), advice
