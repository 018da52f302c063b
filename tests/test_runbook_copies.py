"""The project's copies of the operators' runbooks are the runbooks as given, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import OPERATOR_RUNBOOKS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "runbooks"


@pytest.mark.parametrize("name", sorted(OPERATOR_RUNBOOKS))
def test_copy_matches_the_shared_runbook(name: str) -> None:
    if not (SHARED / name).is_file():
        pytest.skip(f"{SHARED} is not beside this checkout")
    assert OPERATOR_RUNBOOKS[name].read_bytes() == (SHARED / name).read_bytes()
