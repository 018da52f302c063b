"""Configuration resolved once into a frozen dataclass.

Order: explicit argument > CLI flag > environment (RESTORE_DRILL_*) > ini ([tool.restore-drill] in the
nearest pyproject.toml) > default. Values are compared with ``is not None``, never ``or``, so 0 and ""
given on purpose are kept (and then validated).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import BadInput

DEFAULT_REPORT_DIR = Path("reports") / "runs"


@dataclass(frozen=True)
class DrillConfig:
    """Every setting of a run, validated on construction (``BadInput`` naming the flag). Times are
    seconds; ``pg_backend``/``s3_backend`` are names in ``fixtures.postgres.registry`` /
    ``fixtures.s3.registry`` (checked when ``Infra`` is built); S3 keys are never printed (``repr=False``)."""

    pg_version: int | None = None
    pg_backend: str = "embedded"
    pg_url: str | None = None
    s3_backend: str = "moto"
    s3_endpoint: str | None = None
    # Keys for --s3-backend endpoint (and a verify-backup snapshot on s3://), usually from the environment
    # (RESTORE_DRILL_S3_ACCESS_KEY / _SECRET_KEY): never printed.
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_region: str = "us-east-1"
    seed: int = 1234
    scale: int = 1
    disaster: str | None = None
    report_dir: Path = DEFAULT_REPORT_DIR
    allow_destructive: str | None = None
    step_timeout_s: float = 600.0
    rto_s: float | None = None
    rpo_s: float | None = None
    history_file: Path | None = None
    large_objects: bool = False  # Pegasus: a few ~10 MB audio files, above the aws CLI's multipart threshold
    backup_history: str | None = None  # folder or s3://bucket/prefix holding dated backups (retention)
    # Physical (point-in-time recovery) drills only: the recovery target kind (time | xid | lsn | name |
    # immediate, restore_drill.pitr.recovery.TARGET_KINDS) and, for time, how far before the disaster.
    recovery_target: str | None = None
    recovery_target_offset_s: float | None = None
    # Where each value resolved by ``resolve`` came from (field name -> "flag" | "env" | "ini:<pyproject path>"),
    # so an error names the flag, the RESTORE_DRILL_* variable or the pyproject key the user actually set.
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        o = self.origin
        if self.scale < 1:
            raise BadInput(f"{o('scale')} must be a whole number >= 1, got {self.scale}")
        if self.seed < 0:
            raise BadInput(f"{o('seed')} must be >= 0, got {self.seed}")
        if self.step_timeout_s <= 0:
            raise BadInput(f"{o('step_timeout_s')} must be > 0 seconds, got {self.step_timeout_s:g}")
        for name in ("rto_s", "rpo_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise BadInput(f"{o(name)} must be > 0 seconds, got {v:g}")
        self._check_recovery_target()
        if self.pg_version is not None and self.pg_version < 9:
            raise BadInput(f"{o('pg_version')} must be a PostgreSQL major such as 16, got {self.pg_version}")

    def origin(self, name: str) -> str:
        """Where setting ``name`` (a field name) came from, as the user would write it: the flag
        (``--recovery-target``; also for values given as arguments or defaults), the environment variable
        (``RESTORE_DRILL_RECOVERY_TARGET``) or the pyproject key (``recovery-target in [tool.restore-drill]
        of /path/pyproject.toml``)."""
        return source_label(name, self.sources.get(name, "flag"))

    def from_flag(self, name: str) -> bool:
        """True when setting ``name`` was given on the command line (or as an argument), not by a
        RESTORE_DRILL_* variable or pyproject.toml."""
        return self.sources.get(name, "flag") == "flag"

    def _check_recovery_target(self) -> None:
        """--recovery-target is one of PostgreSQL's target kinds; --recovery-target-offset is a finite
        number of seconds >= 0 and only means something for a time target."""
        if self.recovery_target is not None:
            from .pitr.recovery import TARGET_KINDS

            if self.recovery_target not in TARGET_KINDS:
                raise BadInput(f"{self.origin('recovery_target')} {self.recovery_target!r}: use one of "
                               f"{', '.join(TARGET_KINDS)}")
        off = self.recovery_target_offset_s
        if off is not None:
            where = self.origin("recovery_target_offset_s")
            if not math.isfinite(off) or off < 0:
                raise BadInput(f"{where} must be a number of seconds >= 0 (how long before the "
                               f"disaster the time target lies, e.g. 0.1), got {off:g}")
            if self.recovery_target not in (None, "time"):
                kind = self.origin("recovery_target")
                raise BadInput(f"{where} applies to {kind} time only, not {self.recovery_target}: drop the offset "
                               f"or use {kind} time")


# Flags whose name is not the field's (the CLI's spelling: restore_drill/cli/_common.py, cli/run.py).
_FLAGS = {"step_timeout_s": "--step-timeout", "rto_s": "--rto-target", "rpo_s": "--rpo-target",
          "recovery_target_offset_s": "--recovery-target-offset"}


def flag_name(name: str) -> str:
    """The command-line flag of DrillConfig field ``name``, e.g. ``rto_s`` -> ``--rto-target``."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def source_label(name: str, source: str) -> str:
    """``source`` (a ``DrillConfig.sources`` value: "flag", "env", "ini:<path>", "by:<who>") of field ``name``
    as the user wrote it: the flag, ``RESTORE_DRILL_<NAME>``, ``<key> in [tool.restore-drill] of <path>``, or
    ``<name> (<who>)`` for a value a caller set (a plan's job, pytest's run_drill)."""
    if source.startswith("by:"):
        return f"{name} ({source[3:]})"
    if source == "env":
        return f"RESTORE_DRILL_{name.upper()}"
    if source.startswith("ini:"):
        return f"{name.replace('_', '-')} in [tool.restore-drill] of {source[4:]}"
    return flag_name(name)


def _ini_file(start: Path) -> Path | None:
    for d in (start, *start.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def _ini(start: Path) -> dict[str, Any]:
    p = _ini_file(start)
    if p is None:
        return {}
    try:
        return dict(tomllib.loads(p.read_text()).get("tool", {}).get("restore-drill", {}))
    except (tomllib.TOMLDecodeError, OSError):
        return {}


def _coerce(name: str, typ: Any, value: Any, source: str) -> Any:
    if value is None:
        return None
    t = str(typ)
    if t == "bool":
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
    try:
        if "int" in t and "Path" not in t:
            return int(value)
        if "float" in t:
            return float(value)
        if "Path" in t:
            return Path(value)
    except (TypeError, ValueError):
        raise BadInput(f"{source_label(name, source)} must be a number, got {value!r}") from None
    return str(value)


def resolve(cli: dict[str, Any] | None = None, *, cwd: Path | None = None, **explicit: Any) -> DrillConfig:
    """Build the config: explicit > cli > env > ini > default. ``sources`` records where each value came
    from, so a bad value's error names the flag, the RESTORE_DRILL_* variable or the pyproject.toml key.
    Raises BadInput (a value that is not a number, or fails ``DrillConfig`` validation)."""
    cli = cli or {}
    start = cwd or Path.cwd()
    ini, ini_path = _ini(start), _ini_file(start)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for f in fields(DrillConfig):
        if f.name == "sources":
            continue
        candidates = (
            (explicit.get(f.name), "flag"),
            (cli.get(f.name), "flag"),
            (os.environ.get(f"RESTORE_DRILL_{f.name.upper()}"), "env"),
            (ini.get(f.name.replace("_", "-"), ini.get(f.name)), f"ini:{ini_path}"),
        )
        for value, source in candidates:
            if value is not None:
                values[f.name] = _coerce(f.name, f.type, value, source)
                sources[f.name] = source
                break
    return DrillConfig(**values, sources=sources)
