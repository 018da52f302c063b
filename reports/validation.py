"""report.json against the JSON Schema the project ships, plus the rule a schema cannot express:
a stored verdict must equal the verdict the evidence gives.

Names whose owner is a registry in code (Postgres and S3 backends, procedures) are not listed by hand in
the schema file: there they are strings with the current names as ``examples``, so the file stays a valid
schema that never refuses a report restore-drill wrote, and ``_validator`` adds ``enum`` = the registry's
names when it loads the file. Registering a backend is then one module plus one registry line, and
restore-drill still refuses a report naming a backend it does not know. See ``REGISTRY_ENUMS``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from restore_drill.errors import HarnessFault

SCHEMA_PATH = Path(__file__).parent / "schema" / "report.schema.json"
_MAX_LISTED = 5




def _pg_backends() -> tuple[str, ...]:
    from restore_drill.fixtures.postgres import registry

    return tuple(registry.BACKENDS)


def _s3_backends() -> tuple[str, ...]:
    from restore_drill.fixtures.s3 import registry

    return tuple(registry.BACKENDS)


def _procedures() -> tuple[str, ...]:
    from restore_drill import catalog

    return tuple(catalog.PROCEDURES)


# Path of keys/indexes inside the schema file -> the owner of that vocabulary (imported lazily: the
# registries pull in the fixtures, which report-only users, e.g. `restore-drill report`, never need).
REGISTRY_ENUMS: dict[tuple[str | int, ...], Callable[[], tuple[str, ...]]] = {
    ("$defs", "environment", "properties", "postgres", "oneOf", 1, "properties", "backend"): _pg_backends,
    ("$defs", "environment", "properties", "s3", "oneOf", 1, "properties", "backend"): _s3_backends,
    ("$defs", "drill", "properties", "procedure"): _procedures,
}


def schema_node(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    """The sub-schema at ``path`` (keys and list indexes). Raises HarnessFault when the file no longer has
    it (the schema file was restructured without updating ``REGISTRY_ENUMS``)."""
    node: Any = schema
    try:
        for key in path:
            node = node[key]
    except (KeyError, IndexError, TypeError) as exc:
        raise HarnessFault(f"{SCHEMA_PATH.name} has no {'/'.join(map(str, path))}: update REGISTRY_ENUMS in "
                           f"{Path(__file__).name}") from exc
    if not isinstance(node, dict):
        raise HarnessFault(f"{SCHEMA_PATH.name} {'/'.join(map(str, path))} is not a schema object")
    return node


def file_schema() -> dict[str, Any]:
    """The schema file as shipped (what a reader without restore-drill validates against)."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    """The file plus ``enum`` = each registry's names (read once per process: registries are filled when
    their modules are imported, before any report is validated)."""
    schema = copy.deepcopy(file_schema())
    for path, names in REGISTRY_ENUMS.items():
        schema_node(schema, path)["enum"] = list(names())
    # No check_schema here: it cost 0.1 s of every command's report (issue 19) to re-prove a schema that only
    # changes with the code; tests/test_report_model.py checks this effective schema against the metaschema.
    return Draft202012Validator(schema)


def load_schema() -> dict[str, Any]:
    """The schema restore-drill validates with: the file with the registries' enums filled in."""
    return copy.deepcopy(dict(_validator().schema))


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
