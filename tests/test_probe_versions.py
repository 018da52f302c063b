"""Tool versions are probed once per process (issue 19): a second report of the same run asks no tool
again, and a replaced binary is asked anew."""

from __future__ import annotations

from pathlib import Path

from restore_drill.reports.environment import probe_tool_versions


def _tool(path: Path, version: str, calls: Path) -> None:
    path.write_text(f"#!/bin/sh\necho x >> {calls}\necho '{version}'\n")
    path.chmod(0o755)


def test_each_tool_is_asked_once_until_it_changes(tmp_path: Path) -> None:
    calls_a, calls_b = tmp_path / "a.calls", tmp_path / "b.calls"
    a, b = tmp_path / "tool-a", tmp_path / "tool-b"
    _tool(a, "tool-a 1.0", calls_a)
    _tool(b, "tool-b 2.0", calls_b)
    first = probe_tool_versions({"a": a, "b": b})
    second = probe_tool_versions({"a": a, "b": b})
    assert first == second == {"a": "tool-a 1.0", "b": "tool-b 2.0"}
    assert calls_a.read_text().count("x") == 1 and calls_b.read_text().count("x") == 1
    _tool(a, "tool-a 1.10", calls_a)  # upgraded in place: another size, so asked again
    assert probe_tool_versions({"a": a})["a"] == "tool-a 1.10"
    assert calls_a.read_text().count("x") == 2


def test_a_failing_tool_is_not_remembered(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    t = tmp_path / "flaky"
    t.write_text(f"#!/bin/sh\necho x >> {calls}\nexit 3\n")
    t.chmod(0o755)
    assert probe_tool_versions({"t": t})["t"] == "unavailable: exit 3"
    assert probe_tool_versions({"t": t})["t"] == "unavailable: exit 3"
    assert calls.read_text().count("x") == 2
