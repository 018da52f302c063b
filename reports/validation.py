"""report.json against the JSON Schema the project ships, plus the rule a schema cannot express:
a stored verdict must equal the verdict the evidence gives."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from restore_drill.errors import HarnessFault

SCHEMA_PATH = Path(__file__).parent / "schema" / "report.schema.json"
_MAX_LISTED = 5


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_schema() -> dict[str, Any]:
    return dict(_validator().schema)


def schema_errors(report_dict: dict[str, Any]) -> list[str]:
    """Every schema violation as '$.path: message', in document order."""
    errs = sorted(_validator().iter_errors(report_dict), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{e.json_path}: {e.message}" for e in errs]


def validate(report_dict: dict[str, Any]) -> None:
    """Raise HarnessFault if ``report_dict`` is not a valid report.json (schema or verdict mismatch)."""
    errors = schema_errors(report_dict)
    if errors:
        more = f" (+{len(errors) - _MAX_LISTED} more)" if len(errors) > _MAX_LISTED else ""
        raise HarnessFault(
            f"report does not match {SCHEMA_PATH.name}: " + "; ".join(errors[:_MAX_LISTED]) + more
        )
    # A schema cannot recompute verdicts: rebuild the model and compare, so a hand-edited or buggy
    # report that says "passed" over a failed check is refused.
    from .model import RunReport

    run = RunReport.from_dict(report_dict)
    for i, (stored, drill) in enumerate(zip(report_dict["drills"], run.drills, strict=True)):
        if stored["status"] != drill.status:
            raise HarnessFault(
                f"report $.drills[{i}] ({drill.id}) says status {stored['status']!r} but its evidence gives "
                f"{drill.status!r}: {drill.status_reason}"
            )
    if report_dict["status"] != run.status:
        raise HarnessFault(f"report says status {report_dict['status']!r} but its drills give {run.status!r}")
