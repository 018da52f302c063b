"""Values a runbook's commands see: variables, placeholders, derived backup names/dates, and the operator's
inputs (what the runbook leaves to the operator at incident time, bound to the drill's own backup)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg

from restore_drill.checks.retention import date_in

from .binding import PLACEHOLDER_TOKEN
from .state import _RunState

_VAR_REF = re.compile(r"(?<![\\$])\$(?:\{(?P<b>[A-Za-z_]\w*)[}:#%/^,]|(?P<n>[A-Za-z_]\w*))")
_ASSIGNED = re.compile(r"(?:^|[\s;&|(])(?:export\s+|local\s+|declare\s+(?:-\w+\s+)*)?([A-Za-z_]\w*)=|\bfor\s+([A-Za-z_]\w*)\s+in\b")
_TEMPLATE = re.compile(r"\{([A-Za-z_]\w*)\}")
_SOURCE_WORDS = {"backup_stem": "the dump the backup phase wrote", "backup_date": "the date of the backup",
                 "given": "given to this run", "value": "the binding's value", "sql": "drawn from the seeded data"}
# Runbook variables that select what to restore: the operator's choice at incident time.
OPERATOR_VARIABLES = ("RESTORE_PREFIX", "BACKUP_FILE", "BACKUP_DATE", "SNAPSHOT", "RESTORE_DATE")
_DATE_TOKEN = re.compile(r"^(?:YYYY[-_/]?MM[-_/]?DD|YYYYMMDD|DD[-_/]MM[-_/]YYYY)(?:[-_T]?HH(?:[-:]?MM(?:[-:]?SS)?)?)?$")
_BULK_COPY = re.compile(r"\b(?:aws\s+s3\s+(?:sync|cp\b[^\n]*--recursive)|s3cmd\s+(?:sync|get\b[^\n]*--recursive)|"
                        r"rclone\s+(?:sync|copy)|mc\s+(?:mirror|cp\b[^\n]*--recursive))")


def is_operator_input(token: str) -> bool:
    """A fill-in the runbook leaves to the operator (``<backup-file>``, ``YYYY-MM-DD``), not a name to rewrite."""
    return bool(PLACEHOLDER_TOKEN.fullmatch(token) or _DATE_TOKEN.match(token))


def operator_input(name: str, value: str, origin: str, text: str) -> dict[str, str]:
    """The record of one operator input the drill bound, with the finding's wording."""
    note = (f"{name} is left to the operator at incident time; the drill bound it to {value!r} as an operator "
            f"would ({origin or 'bound'})")
    bare = name.lstrip("$")
    if _BULK_COPY.search(text) and re.search(rf"s3://[^\s\"']*\$\{{?{re.escape(bare)}\b", text):
        note += "; if empty this command copies the whole backup bucket"
    return {"name": name, "value": value, "origin": origin, "note": note}


class _Values(_RunState):
    """Mixin of _Run: the environment and placeholder values of each step."""

    # State only the values mixin adds (the shared state is declared in _RunState).
    given: dict[str, str]
    hook_placeholders: dict[str, str]
    sql_values: dict[str, str]
    hook_vars: dict[str, str]
    backup_files: dict[Path, str]
    backup_phase_started: float | None
    referenced: set[str]
    assigned: set[str]

    def newest_backup(self) -> Path | None:
        live = [p for p in self.backup_files if p.exists()]
        return max(live, key=lambda p: (p.stat().st_mtime_ns, str(p))) if live else None

    def backup_date(self) -> str | None:
        newest = self.newest_backup()
        if newest is not None and (day := date_in(newest.name)) is not None:
            return day.isoformat()
        if self.backup_phase_started is not None:
            # `date +%F` in the child: local time in the same TZ we pass through.
            return time.strftime("%Y-%m-%d", time.localtime(self.backup_phase_started))
        return None

    def derived(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if (d := self.backup_date()) is not None:
            out["backup_date"] = d
        if (b := self.newest_backup()) is not None:
            out["backup_stem"] = b.stem
        elif self.res.backups:  # recorded, then lost (host-lost): its name is what an operator would still use
            out["backup_stem"] = Path(self.res.backups[-1].path).stem
        return out

    def variables(self) -> tuple[dict[str, str], dict[str, str]]:
        """(child env, origin of each runbook variable)."""
        env = dict(self.base_env)
        origin = {k: "environment" for k in self.env.variables}
        known = {**env, **self.derived()}
        for name, template in self.binding.variables.items():
            if name in self.env.variables:
                continue  # the caller bound it explicitly; that wins over the binding's default
            refs = _TEMPLATE.findall(template)
            if all(r in known for r in refs):
                env[name] = _TEMPLATE.sub(lambda m: known[m[1]], template)
                origin[name] = f"binding ({template})"
        for name, value in self.operator_choices(env, known).items():
            env[name] = value
            origin[name] = "restore-drill: the drill's own backup"
        for name, value in self.hook_vars.items():
            env[name] = value
            origin[name] = "restore-drill hook"
        return env, origin

    def operator_choices(self, env: dict[str, str], known: dict[str, str]) -> dict[str, str]:
        """Values for the selection variables the runbook uses but leaves to the operator (RESTORE_PREFIX:
        the snapshot the backup phase wrote; BACKUP_FILE: its newest dump; BACKUP_DATE: its date), once the
        backup made them. Never overrides a value bound by the caller, the binding or the runbook itself."""
        out: dict[str, str] = {}
        unset = [v for v in OPERATOR_VARIABLES if v in self.referenced and v not in env and v not in self.assigned]
        if not unset:
            return out
        snap = self.binding.snapshot
        if "RESTORE_PREFIX" in unset and snap is not None and all(r in known for r in _TEMPLATE.findall(snap.prefix)):
            out["RESTORE_PREFIX"] = _TEMPLATE.sub(lambda m: known[m[1]], snap.prefix)
        if "BACKUP_FILE" in unset and (b := self.newest_backup()) is not None:
            out["BACKUP_FILE"] = str(b.relative_to(self.workdir)) if b.is_relative_to(self.workdir) else str(b)
        if "BACKUP_DATE" in unset and "backup_date" in known:
            out["BACKUP_DATE"] = known["backup_date"]
        return out

    def placeholder(self, token: str) -> tuple[str | None, str]:
        """(value, why not) for one placeholder."""
        if token in self.given:
            return self.given[token], ""
        if token in self.hook_placeholders:
            return self.hook_placeholders[token], ""
        spec = self.binding.placeholders.get(token)
        if spec is None:
            return None, "the binding does not bind it"
        if spec.source == "value":
            return spec.value, ""
        if spec.source in ("backup_stem", "backup_date"):
            v = self.derived().get(spec.source)
            globs = ", ".join(self.binding.backup_globs) or "(no backup_globs in the binding)"
            return v, "" if v is not None else f"no backup file matching {globs} was made by the backup phase"
        if spec.source == "sql":
            if token not in self.sql_values:
                self.eval_sql_placeholders()
            if token in self.sql_values:
                return self.sql_values[token], ""
            return None, f"query {spec.value!r} returned no value"
        return None, "no value was given (pass it in placeholders or from a hook)"

    def eval_sql_placeholders(self) -> None:
        url = self.env.variables.get("DATABASE_URL")  # bind() always sets it (a system's own names too)
        specs = [s for s in self.binding.placeholders.values() if s.source == "sql" and s.token not in self.sql_values]
        if not specs or not url:
            return
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                for s in specs:
                    row = conn.execute(s.value).fetchone()
                    if row is not None and row[0] is not None:
                        self.sql_values[s.token] = str(row[0])
        except psycopg.Error as e:
            self.res.findings.append(self.redact(f"placeholder query failed: {type(e).__name__}: {str(e).strip()}"))
