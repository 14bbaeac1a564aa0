"""A missing tool skips its tests, except under PUNCTUAL_REQUIRE_TOOLS=1 (CI), where it fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

MISSING = "punctual-no-such-tool-7c1e"


def test_missing_tool_skips_by_default(tool_lookup: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUNCTUAL_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install-tools"):
        tool_lookup(MISSING)


def test_missing_tool_fails_when_required(tool_lookup: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNCTUAL_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="PUNCTUAL_REQUIRE_TOOLS=1"):
        tool_lookup(MISSING)


def test_present_tool_is_found(tool_lookup: Callable[[str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUNCTUAL_REQUIRE_TOOLS", "1")
    assert tool_lookup("sh").endswith("/sh")


def test_missing_promtool_skips_naming_the_debian_package(
    tool_lookup: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """promtool comes from a system-wide Debian package that .ci/run installs: a skip says which."""
    monkeypatch.delenv("PUNCTUAL_REQUIRE_TOOLS", raising=False)
    monkeypatch.setitem(tool_lookup.__globals__, "find_tool", lambda name: None)  # the conftest module's global
    with pytest.raises(pytest.skip.Exception, match="Debian package prometheus"):
        tool_lookup("promtool")
