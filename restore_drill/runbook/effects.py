"""Observation of effects: what a restore step really changed (table digests, objects under the live prefix),
so a restore that exits 0 and does nothing is visible."""

from __future__ import annotations

from typing import Any

import psycopg

from restore_drill.foundation import table_digest
from restore_drill.objectstore import list_objects
from restore_drill.seeds.manifest import list_tables

from .results import RunbookStepRecord
from .state import _RunState


class _Effects(_RunState):
    """Mixin of _Run: state before/after a restore step and the difference."""

    def _state(self) -> dict[str, Any]:
        """Digests of the tables in scope and (size, etag, mtime) of every object under the live prefix."""
        state: dict[str, Any] = {"tables": {}, "objects": None}
        url = self.env.variables.get("DATABASE_URL")  # bind() always sets it (a system's own names too)
        if url:
            try:
                with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
                    for t in self.binding.tables or list_tables(conn):
                        exists = conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()
                        state["tables"][t] = table_digest(conn, t) if exists and exists[0] else None
            except psycopg.Error as e:
                state["tables"] = {"error": self.redact(f"{type(e).__name__}: {str(e).strip()}")}
        bucket, prefix = self.env.variables.get("S3_BUCKET"), self.env.variables.get("S3_PREFIX", "")
        if self.env.s3 is not None and bucket:
            base = prefix.strip("/") + "/" if prefix.strip("/") else ""
            objs: dict[str, tuple[int, str, str]] = {}
            client = self.env.s3.client()
            try:
                for o in list_objects(client, bucket, base):
                    objs[o.key] = (o.size, o.etag, str(o.last_modified or ""))
            except Exception as e:  # noqa: BLE001 - botocore raises many kinds; the step's record says so
                state["objects_error"] = self.redact(f"{type(e).__name__}: {e}")
                return state
            state["objects"] = {"where": f"s3://{bucket}/{base}", "keys": objs}
        return state

    def _effects(self, rec: RunbookStepRecord, before: dict[str, Any], after: dict[str, Any]) -> None:
        tables: dict[str, Any] = {}
        changed_tables = 0
        for t in sorted(set(before["tables"]) | set(after["tables"])):
            b, a = before["tables"].get(t), after["tables"].get(t)
            if t == "error" or b == a:
                tables[t] = {"changed": False, "rows": a[0] if isinstance(a, tuple) else a}
                continue
            changed_tables += 1
            tables[t] = {"changed": True, "rows_before": b[0] if b else None, "rows_after": a[0] if a else None}
        rec.effects["tables"] = tables
        for when, st in (("before", before), ("after", after)):
            if st.get("objects_error"):
                rec.findings.append(f"objects could not be listed {when} this step: {st['objects_error']}")
        obj_changes = 0
        if before["objects"] is not None and after["objects"] is not None:
            bk, ak = before["objects"]["keys"], after["objects"]["keys"]
            added = sorted(set(ak) - set(bk))
            removed = sorted(set(bk) - set(ak))
            changed = sorted(k for k in set(ak) & set(bk) if ak[k][:2] != bk[k][:2])
            rewritten = sorted(k for k in set(ak) & set(bk) if ak[k][:2] == bk[k][:2] and ak[k][2] != bk[k][2])
            obj_changes = len(added) + len(removed) + len(changed)
            rec.effects["objects"] = {
                "where": after["objects"]["where"], "before": len(bk), "after": len(ak),
                "added": len(added), "removed": len(removed), "content_changed": len(changed),
                "rewritten_same_content": len(rewritten), "sample_added": added[:10],
                "sample_changed": changed[:10],
            }
        listed = not (before.get("objects_error") or after.get("objects_error"))
        if rec.exit_code == 0 and changed_tables == 0 and obj_changes == 0 and listed:
            where = rec.effects.get("objects", {}).get("where")
            rec.findings.append(
                f"exited 0 but changed nothing: the {len(tables)} table(s) in scope"
                + (f" and the objects under {where}" if where else "") + " are exactly as before this step")
