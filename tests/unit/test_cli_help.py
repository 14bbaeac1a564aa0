"""``--help`` and ``--version`` of both commands: ``punctual`` and ``kubectl sj``.

Every option says what it is for, no metavar is a Python name (``FROM_``, ``FOR_``), every
subcommand has a description, and ``--version`` prints the package's version.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kubectl_sj.cli import build_parser as plugin_parser
from punctual import __version__
from punctual.cli import _parser as punctual_parser


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from commands(sub)


PARSERS = {"punctual": punctual_parser, "kubectl sj": plugin_parser}


@pytest.mark.parametrize("name", PARSERS)
def test_every_option_has_help_and_a_readable_metavar(name: str) -> None:
    for prog, parser in commands(PARSERS[name]()):
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{prog} {'/'.join(action.option_strings)} has no help"
        text = parser.format_help()
        assert not re.findall(r"(?<=[\s\[])[A-Z][A-Z0-9_]*_(?=[\s\],]|$)", text, re.MULTILINE), (
            f"{prog} --help:\n{text}"
        )


@pytest.mark.parametrize("name", PARSERS)
def test_every_subcommand_has_a_description(name: str) -> None:
    for prog, parser in commands(PARSERS[name]()):
        assert parser.description, f"{prog} --help has no description"


def test_sandbox_help_says_what_it_is() -> None:
    text = next(p for prog, p in commands(punctual_parser()) if prog.endswith(" sandbox")).format_help()
    assert "no cluster" in text and "simulated" in text.lower() and "--for DURATION" in text


@pytest.mark.parametrize(
    ("module", "expected"),
    [("punctual.cli", f"punctual {__version__}"), ("kubectl_sj.cli", f"kubectl-sj {__version__}")],
)
def test_version(module: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, expected), done.stderr
