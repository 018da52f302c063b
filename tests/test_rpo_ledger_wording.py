"""The rpo "not measured" reason says what the restore did to the write ledger, whatever kind of restore it
was (tester finding 15: a whole-database restore was told "a table-scoped restore does not carry it")."""

from __future__ import annotations

from typing import Any

from restore_drill.engine import Drill, _State
from restore_drill.seeds import ledger
from restore_drill.systems import resolve_system
from tests.helpers import scratch_database


def _drill() -> Drill:
    """Just what Drill._ledger_restored reads: the system (no [targets] newest_write) and the hook state."""
    d = Drill.__new__(Drill)
    d.system, d.state = resolve_system("pegasus"), _State()
    return d


def test_a_restore_without_the_ledger_table_is_named_as_such(drill_infra: Any) -> None:
    with scratch_database(drill_infra, 16, "CREATE TABLE public.orders (id int PRIMARY KEY);") as db:
        got, why = _drill()._ledger_restored(db, True)
    assert got is None
    assert why == (f"the write ledger ({ledger.TABLE}) is not in the restored database: the restore did not "
                   "bring its table back")
    assert "table-scoped" not in why


def test_an_empty_restored_ledger_is_named_as_such(drill_infra: Any) -> None:
    sql = f"CREATE SCHEMA {ledger.SCHEMA}; CREATE TABLE {ledger.TABLE} (id int, written_at timestamptz);"
    with scratch_database(drill_infra, 16, sql) as db:
        got, why = _drill()._ledger_restored(db, True)
    assert (got, why) == (None, f"the write ledger ({ledger.TABLE}) holds no beat in the restored database")


def test_a_restored_ledger_gives_its_newest_beat(drill_infra: Any) -> None:
    with scratch_database(drill_infra, 16, "SELECT 1") as db:
        with db.connect(autocommit=True) as c:
            at = ledger.beat(c, "seeded")
        got, why = _drill()._ledger_restored(db, True)
    assert got == at and why == f"newest beat of {ledger.TABLE} in the restored database"
