"""Invariants live in the system definitions (drills/systems/*.toml); the seeds read them from there."""

from __future__ import annotations


def invariants(system: str) -> dict[str, tuple[str, str]]:
    """name -> (SQL returning violating rows, message), from the built-in system's definition file."""
    from restore_drill.systems import resolve_system

    return {i.name: (i.sql, i.message) for i in resolve_system(system).invariants}
