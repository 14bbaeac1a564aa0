"""``punctual simulate`` with ``spec.maxActive``: the README's sample is what the program prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from punctual.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_max_active_sample_is_what_simulate_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text()
    section = text[text.index("## Capping parallel runs: `spec.maxActive`") :]
    manifest = section[section.index("```yaml\n") + len("```yaml\n") : section.index("```\n")]
    prompt = "$ punctual simulate crawl.yaml "
    start = section.index(prompt)
    command, _, expected = section[start : section.index("```", start)].partition("\n")
    (tmp_path / "crawl.yaml").write_text(manifest)
    argv = command.removeprefix("$ punctual ").split()
    argv[1] = str(tmp_path / "crawl.yaml")

    assert main(argv) == 0
    assert capsys.readouterr().out == expected
    assert "Skipped    MaxActive" in expected


def test_simulate_reports_max_active_with_another_policy_as_a_bad_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: ScheduledJob\nmetadata: {name: bad}\nspec:\n  schedule: '*/10 * * * *'\n"
        "  concurrencyPolicy: Forbid\n  maxActive: 2\n"
        "  jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: busybox}]}}}}\n"
    )

    code = main(["simulate", str(path), "--from", "2026-11-23T10:00:00Z", "--until", "2026-11-23T11:00:00Z"])

    captured = capsys.readouterr()
    assert code == 2
    assert "spec.maxActive applies to concurrencyPolicy Allow only" in captured.err
    assert "Traceback" not in captured.err
