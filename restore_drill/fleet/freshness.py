"""Freshness of a fleet: is each system's newest backup young enough for its policy, and was it proven
restorable recently enough?

- ``stale_backup``: the newest backup a verify-backup job read (the dump's own start time from its
  archive header) is older than the system's policy: its RPO target (``targets.rpo_s`` of the system
  definition, as recorded in the report), or ``--backup-max-age`` when given. A backup older than the
  RPO means a restore now would lose more than the objective allows.
- ``stale_drill``: the last passing drill or verify-backup of the system finished more than
  ``--max-age`` days before the as-of time.
- ``never_passed``: no drill or verify-backup of the system passed in the merged runs.

A system with no verify-backup job has no backup evidence: its backup freshness is reported as
"not evidenced", never as fresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def parse_ts(ts: str | None) -> datetime | None:
    """ISO-8601 (``Z`` or offset) -> aware datetime; None or unparsable -> None."""
    if not ts:
        return None
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _age(seconds: float) -> str:
    return f"{seconds / 86400:.1f} d" if seconds >= 86400 else f"{seconds / 3600:.1f} h"


@dataclass
class SystemFreshness:
    """One system's freshness facts; ``stale`` holds (reason, message) pairs, empty when fresh."""

    system: str
    last_passed_at: str | None = None
    newest_backup_at: str | None = None
    newest_backup: str | None = None
    backup_policy_s: float | None = None
    policy_source: str | None = None
    stale: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As in the fleet report's ``systems`` list; ``stale`` as [{reason, message}]."""
        return {"system": self.system, "last_passed_at": self.last_passed_at,
                "newest_backup_at": self.newest_backup_at, "newest_backup": self.newest_backup,
                "backup_policy_s": self.backup_policy_s, "policy_source": self.policy_source,
                "stale": [{"reason": r, "message": m} for r, m in self.stale]}


def assess(rows: Sequence[dict[str, Any]], *, as_of: datetime, max_age_days: float,
           backup_max_age_s: float | None = None, systems: Sequence[str] = ()) -> list[SystemFreshness]:
    """Freshness per system over every row (superseded re-runs included: an older pass still counts).

    ``rows`` are fleet report rows (keys used: system, kind, status, finished_at, backup, rpo_s);
    ``systems`` adds systems that must be judged even with no row (from the plan). Ages are measured
    to ``as_of`` (aware datetime), and only runs finished (backups taken) by then count; ``max_age_days``
    in days, ``backup_max_age_s`` in seconds."""
    names = sorted({r["system"] for r in rows} | set(systems))
    out: list[SystemFreshness] = []
    for name in names:
        mine = [r for r in rows if r["system"] == name]
        f = SystemFreshness(name)
        # Evidence from after ``as_of`` did not exist at that instant: it never makes a system fresh then.
        every = [t for r in mine if r["status"] == "passed" and (t := parse_ts(r.get("finished_at")))]
        passed = [t for t in every if t <= as_of]
        if passed:
            last = max(passed)
            f.last_passed_at = last.isoformat().replace("+00:00", "Z")
            age = (as_of - last).total_seconds()
            if age > max_age_days * 86400:
                f.stale.append(("stale_drill", f"{name}: last passing drill finished {f.last_passed_at}, "
                                               f"{_age(age)} before {as_of:%Y-%m-%dT%H:%MZ}; --max-age allows "
                                               f"{max_age_days:g} d"))
        elif every:
            f.stale.append(("never_passed", f"{name}: no drill or verify-backup of this system had passed by "
                                            f"{as_of:%Y-%m-%dT%H:%MZ} (--as-of); its {len(every)} passing run(s) "
                                            "finished after it"))
        else:
            f.stale.append(("never_passed", f"{name}: no drill or verify-backup of this system passed in the "
                                            "merged runs"))
        backups = [(t, r["backup"]["path"], r.get("rpo_s")) for r in mine if r["kind"] == "verify-backup"
                   and r.get("backup") and (t := parse_ts(r["backup"].get("started_at"))) and t <= as_of]
        if backups:
            taken, path, rpo = max(backups, key=lambda b: b[0])
            f.newest_backup_at, f.newest_backup = taken.isoformat().replace("+00:00", "Z"), path
            if backup_max_age_s is not None:
                f.backup_policy_s, f.policy_source = backup_max_age_s, "--backup-max-age"
            elif rpo is not None:
                f.backup_policy_s, f.policy_source = float(rpo), "targets.rpo_s"
            age = (as_of - taken).total_seconds()
            if f.backup_policy_s is not None and age > f.backup_policy_s:
                f.stale.append(("stale_backup", f"{name}: newest backup {path} was taken {f.newest_backup_at}, "
                                                f"{_age(age)} before {as_of:%Y-%m-%dT%H:%MZ}; its policy "
                                                f"({f.policy_source}) allows {_age(f.backup_policy_s)}"))
        out.append(f)
    return out
