"""Shell completion scripts for ``kubectl sj`` (bash and zsh). Pure.

The scripts complete the verbs, each verb's flags, and ScheduledJob names, which they fetch at
completion time with ``kubectl get sj -o name`` (honouring ``-n``, ``--context`` and
``--kubeconfig`` already typed). They complete the ``kubectl-sj`` command; kubectl itself
(1.26+) completes plugins through an executable named ``kubectl_complete-sj`` on PATH, which can
be a two-line wrapper (see docs/plugin.md).
"""

from __future__ import annotations

from typing import Literal

from kubectl_sj.cli import VERBS

__all__ = ["FLAGS", "GLOBAL_FLAGS", "script"]

GLOBAL_FLAGS = ("-n", "--namespace", "-A", "--all-namespaces", "--context", "--kubeconfig", "-h", "--help")
FLAGS: dict[str, tuple[str, ...]] = {
    "run": (
        "--wait",
        "--follow",
        "-f",
        "--timeout",
        "--env",
        "--arg",
        "--image",
        "-c",
        "--container",
        "--dry-run",
        "-o",
        "--output",
    ),
    "list": ("-o", "--output"),
    "get": ("-o", "--output"),
    "history": ("--limit", "-o", "--output"),
    "next": ("--count", "--from", "-o", "--output"),
    "tree": (),
    "suspend": ("-l", "--selector", "--all"),
    "resume": ("-l", "--selector", "--all"),
    "logs": ("--run", "--last", "-f", "--follow", "-c", "--container"),
    "backfill": ("--from", "--to", "--parallel", "--dry-run", "--wait", "--timeout", "--cancel"),
    "convert": ("-f", "--filename", "-o", "--output"),
    "completion": (),
    "ui": ("--port", "--address", "--open", "--in-cluster"),
}
# Verbs whose first argument is a ScheduledJob name.
_NAMED = ("run", "get", "history", "next", "tree", "suspend", "resume", "logs", "backfill")

_BASH = r"""# bash completion for kubectl-sj (Punctual); load with: source <(kubectl-sj completion bash)
__kubectl_sj_names() {
    local args=() i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -n|--namespace|--context|--kubeconfig) args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}") ;;
            --namespace=*|--context=*|--kubeconfig=*) args+=("${COMP_WORDS[i]}") ;;
        esac
    done
    kubectl get scheduledjobs.punctual.dev -o name "${args[@]}" 2>/dev/null | sed 's|.*/||'
}

_kubectl_sj() {
    local cur prev verb i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    verb=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -n|--namespace|--context|--kubeconfig|-o|--output) ((i++)) ;;
            --timeout|--limit|--count|--from|--to|--parallel|--run|-c|--container|--filename) ((i++)) ;;
            --env|--arg|--image) ((i++)) ;;
            --port|--address) ((i++)) ;;
            -*) ;;
            *) verb="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$prev" in
        -n|--namespace)
            COMPREPLY=($(compgen -W "$(kubectl get namespaces -o name 2>/dev/null | sed 's|.*/||')" -- "$cur"))
            return ;;
        --context)
            COMPREPLY=($(compgen -W "$(kubectl config get-contexts -o name 2>/dev/null)" -- "$cur")); return ;;
        --kubeconfig|--filename)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -o|--output)
            COMPREPLY=($(compgen -W "wide json yaml name" -- "$cur")); return ;;
    esac
    if [[ "$verb" == "convert" && "$prev" == "-f" ]]; then
        COMPREPLY=($(compgen -f -- "$cur")); return
    fi
    if [[ -z "$verb" ]]; then
        COMPREPLY=($(compgen -W "@VERBS@ @GLOBAL@" -- "$cur")); return
    fi
    if [[ "$cur" == -* ]]; then
        local flags
        case "$verb" in
@FLAG_CASES@
        esac
        COMPREPLY=($(compgen -W "$flags @GLOBAL@" -- "$cur")); return
    fi
    case "$verb" in
        @NAMED@) COMPREPLY=($(compgen -W "$(__kubectl_sj_names)" -- "$cur")) ;;
        completion) COMPREPLY=($(compgen -W "bash zsh" -- "$cur")) ;;
        convert)
            local cronjobs
            cronjobs="$(kubectl get cronjobs -o name 2>/dev/null | sed 's|^cronjob.batch/|cronjob/|')"
            COMPREPLY=($(compgen -W "$cronjobs" -- "$cur")) ;;
    esac
}
complete -F _kubectl_sj kubectl-sj
"""

_ZSH = r"""#compdef kubectl-sj
# zsh completion for kubectl-sj (Punctual); load with: source <(kubectl-sj completion zsh)
# It reuses the bash completion through zsh's bashcompinit.
autoload -U +X bashcompinit && bashcompinit
"""


def _bash() -> str:
    cases = "\n".join(f'            {verb}) flags="{" ".join(flags)}" ;;' for verb, flags in FLAGS.items())
    return (
        _BASH.replace("@VERBS@", " ".join(VERBS))
        .replace("@GLOBAL@", " ".join(GLOBAL_FLAGS))
        .replace("@FLAG_CASES@", cases)
        .replace("@NAMED@", "|".join(_NAMED))
    )


def script(shell: Literal["bash", "zsh"] | str) -> str:
    """The completion script for ``shell``."""
    if shell == "bash":
        return _bash()
    if shell == "zsh":
        return _ZSH + _bash().split("\n", 1)[1]
    raise ValueError(f"unsupported shell {shell!r}; use bash or zsh")
