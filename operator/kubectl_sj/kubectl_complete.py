"""``kubectl_complete-sj``: completion of ``kubectl sj ...`` through kubectl's own TAB (kubectl 1.26+).

kubectl runs ``kubectl_complete-sj ARGS... WORD`` (the words after ``sj``, the last one being the
word under the cursor) and reads cobra's ``__complete`` format: one candidate per line, then
``:<directive>`` (4: do not fall back to file names). ScheduledJob names come from
``kubectl get sj -o name`` with the ``-n``/``--context``/``--kubeconfig`` already typed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence

from kubectl_sj.cli import VERBS
from kubectl_sj.completion import FLAGS, GLOBAL_FLAGS

__all__ = ["NO_FILE_COMPLETION", "candidates", "main"]

NO_FILE_COMPLETION = 4
_VALUE_FLAGS = (
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "-o",
    "--output",
    "--limit",
    "--count",
    "--from",
    "--to",
    "--parallel",
    "--timeout",
    "--run",
    "-c",
    "--container",
    "-f",
    "--filename",
    "--env",
    "--arg",
    "--image",
)
_NAMED = ("run", "get", "history", "next", "suspend", "resume", "logs", "backfill")
_OUTPUTS = {"list": ("wide", "json", "yaml", "name"), "get": ("wide", "json", "yaml", "name"), "run": ("yaml", "json")}


def _split(done: Sequence[str]) -> tuple[list[str], str | None]:
    """The positional words typed so far, and the flag awaiting a value (if the last word is one)."""
    positional: list[str] = []
    pending: str | None = None
    for word in done:
        if pending is not None:
            pending = None
            continue
        if word.startswith("-"):
            if "=" not in word and word in _VALUE_FLAGS and word not in ("-f",):
                pending = word
            continue
        positional.append(word)
    return positional, pending


def candidates(args: Sequence[str], names: Callable[[], Sequence[str]]) -> list[str]:
    """What may come next after ``kubectl sj ARGS``; the last of ARGS is the word being typed."""
    done, current = (list(args[:-1]), args[-1]) if args else ([], "")
    positional, pending = _split(done)
    verb = positional[0] if positional else None
    if pending in ("-o", "--output"):
        options: Sequence[str] = _OUTPUTS.get(verb or "", ("json", "yaml"))
    elif pending is not None:
        return []  # a namespace, context, path or number: nothing sensible to offer
    elif current.startswith("-"):
        options = (*FLAGS.get(verb or "", ()), *GLOBAL_FLAGS)
    elif verb is None:
        options = VERBS
    elif verb == "completion" and len(positional) == 1:
        options = ("bash", "zsh")
    elif verb in _NAMED and len(positional) == 1:
        options = names()
    else:
        options = ()
    return [o for o in options if o.startswith(current)]


def _names_from_kubectl(args: Sequence[str]) -> list[str]:
    passthrough: list[str] = []
    for i, word in enumerate(args):
        for flag in ("-n", "--namespace", "--context", "--kubeconfig"):
            if word == flag and i + 1 < len(args):
                passthrough += [flag, args[i + 1]]
            elif word.startswith(flag + "="):
                passthrough.append(word)
    try:
        done = subprocess.run(
            ["kubectl", "get", "scheduledjobs.punctual.dev", "-o", "name", *passthrough],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split("/", 1)[-1] for line in done.stdout.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kubectl_complete-sj`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["__complete"]:
        args = args[1:]  # also accept cobra's own spelling
    for option in candidates(args, lambda: _names_from_kubectl(args[:-1])):
        print(option)
    print(f":{NO_FILE_COMPLETION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
