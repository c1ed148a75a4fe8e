"""Container commands that run a shell: which programs are shells, and where the script of `sh -c SCRIPT`
sits (also `-ec`, `-lc`, `-c -- SCRIPT`, `busybox sh -c`). Shared by the family detection, the preStop reader,
the preStop fixes and the readiness check, so they agree on what a script is."""

from __future__ import annotations

from collections.abc import Sequence

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})


def program_name(word: str) -> str:
    """The last part of a program's path (`posixpath.basename`, inline: this runs for every command of every
    container on every admission)."""
    return word[word.rfind("/") + 1 :]


def script_index(command: Sequence[str]) -> int | None:
    """The index of the script in a shell command, or None when the command runs no shell script."""
    if not command:
        return None
    program = program_name(command[0])
    if program not in SHELLS:
        return None
    start = 2 if program == "busybox" and command[1:2] in (["sh"], ["ash"]) else 1
    for index in range(start, len(command) - 1):
        word = command[index]
        if word.startswith("-") and not word.startswith("--") and "c" in word:
            script = index + 1
            if command[script] == "--":
                script += 1
            return script if script < len(command) else None
    return None


def shell_script(command: Sequence[str]) -> str | None:
    """The script a shell command runs, or None (not a shell, or a shell without `-c`)."""
    index = script_index(command)
    return command[index] if index is not None else None
