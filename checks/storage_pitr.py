"""storage_at_target: object storage restored to the same instant as the database (Pegasus at a point in time).

The storage restore makes current, per key, the newest version written at or before the target; this check
compares what the prefix holds afterwards with the objects recorded when nothing had yet changed them
(the manifest, taken after seeding; the drill writes no object between then and the target), and says
whether the database and the storage were restored to one instant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from restore_drill.seeds.manifest import ObjectSnapshot

from .result import CheckResult


def storage_at_target(expected: Mapping[str, ObjectSnapshot], now: Mapping[str, ObjectSnapshot],
                      *, storage_target: datetime | None, db_target: datetime | None,
                      changed: Sequence[str] = (), same_second: Sequence[str] = (),
                      between: Sequence[str] | None = None) -> CheckResult:
    """Every object current at the target is back (same size and sha256), none that did not exist then
    is left, and storage and database were restored to the same instant.

    ``expected``: objects at the target (key relative to the prefix). ``now``: the prefix after the
    restore. ``changed``: keys the disaster overwrote or deleted (reported: each must be back).
    ``same_second``: keys with a version written within the target's second but after it (S3's
    LastModified is whole seconds, so they cannot be placed): a named failure, never a guess.
    ``db_target``: the instant the restored database actually stands at (its newest kept transaction's commit
    time), whatever the target kind. ``between``: keys with a version written after the earlier instant's
    second up to the later one's; when the two instants differ and this is given and empty, storage is the same
    at both (nothing changed in between), so the pair is one instant in effect; None: they must be equal.
    """
    name = "storage_at_target"
    ev: dict[str, Any] = {"storage_target": storage_target.isoformat() if storage_target else None,
                          "db_target": db_target.isoformat() if db_target else None,
                          "expected": len(expected), "now": len(now), "changed": list(changed)[:20]}
    if storage_target is None or db_target is None:
        return CheckResult.failed(name, "the storage or the database was not restored to a point in time",
                                  evidence=ev)
    if storage_target != db_target:
        if between is None or between:
            what = f"; {len(between)} object version(s) written in between (first {between[0]})" if between else ""
            return CheckResult.failed(name, f"storage restored to {storage_target.isoformat()}, the database "
                                            f"reached {db_target.isoformat()}: not the same instant{what}",
                                      evidence=ev)
        ev["no_version_between"] = True
    if same_second:
        return CheckResult.failed(name, f"{len(same_second)} object version(s) (first {same_second[0]}) were written in "
                                        "the target's own second: S3 times versions to the second, so storage "
                                        "cannot be placed exactly at the target", evidence=ev)
    if not expected:
        return CheckResult.failed(name, "no object was recorded at the target: nothing to judge", evidence=ev)
    missing = sorted(k for k in expected if k not in now)
    extra = sorted(k for k in now if k not in expected)
    wrong = sorted(k for k in expected if k in now and (now[k].sha256, now[k].size) != (expected[k].sha256,
                                                                                           expected[k].size))
    ev.update({"missing": missing[:20], "extra": extra[:20], "wrong": wrong[:20]})
    if missing or extra or wrong:
        parts = [f"{len(x)} {what} (first {x[0]})" for x, what in
                 ((missing, "missing"), (wrong, "with other content"), (extra, "that did not exist then")) if x]
        return CheckResult.failed(name, f"storage is not as it was at {storage_target.isoformat()}: "
                                        + "; ".join(parts), expected=len(expected), observed=len(now), evidence=ev)
    back = f"; the {len(changed)} the disaster changed are back" if changed else ""
    return CheckResult.passed(name, f"all {len(expected)} objects are as they were at {storage_target.isoformat()}, "
                                    f"the instant the database was restored to{back}", expected=len(expected),
                              observed=len(now), evidence=ev)
