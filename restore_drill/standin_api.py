"""The project's stand-in for an application's integrity API, so runbook probes run as written.

When a drill has no ``API_BASE_URL`` (the operators' API is not part of a restore drill), this
small service answers the two probes the Pegasus runbook makes, from the restored database and
bucket:

- ``GET /health/ready`` -> ``ready`` (200) when the database answers and the bucket exists, else 503.
- ``GET /lectures/<id>/integrity`` -> JSON ``{"status": "healthy"|"unhealthy", "missing": [keys]}``:
  the lecture row exists and every object key its rows reference exists in the bucket.

Every response carries the ``X-Restore-Drill-Standin`` header and JSON bodies a ``standin`` field,
so no report can mistake it for the real application. Loopback only, port 0; the owner stops it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import psycopg

from restore_drill.objectstore import S3Client

from .errors import HarnessFault
from .redact import Redactor

STANDIN_HEADER = "X-Restore-Drill-Standin"
STANDIN_LABEL = "restore-drill stand-in integrity service (not the application's API)"


@dataclass(frozen=True)
class IntegrityReport:
    lecture_id: str
    status: str  # healthy | unhealthy
    found: bool
    checked: list[str]
    missing: list[str]
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "standin": STANDIN_LABEL, "lecture_id": self.lecture_id, "status": self.status,
            "lecture_found": self.found, "checked": self.checked, "missing": self.missing,
        }
        if self.error:
            d["error"] = self.error
        elif not self.found:
            d["detail"] = "lecture not found"
        return d


class StandinApi:
    """Integrity probes over a database URL and a bucket prefix, served on 127.0.0.1:<ephemeral>.

    ``lecture_sql`` returns a row when the lecture exists; each of ``key_sql`` returns object keys
    (relative to ``prefix``) the lecture references. Both take the id as ``%(id)s``.
    """

    def __init__(
        self,
        db_url: str,
        s3_client: S3Client,
        bucket: str,
        prefix: str,
        *,
        lecture_sql: str,
        key_sql: Sequence[str],
        redactor: Redactor | None = None,
    ) -> None:
        self._db_url = db_url
        self._s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.lecture_sql = lecture_sql
        self.key_sql = tuple(key_sql)
        self._redact = redactor or Redactor()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise HarnessFault("stand-in API is not running; call start() first")
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        api = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "restore-drill-standin/1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                code, ctype, body = api.handle(self.path)
                payload = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header(STANDIN_HEADER, STANDIN_LABEL)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # no request log on stderr; drills record probes through the runbook steps

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin-api", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> StandinApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers ---------------------------------------------------------------------------------
    def handle(self, path: str) -> tuple[int, str, str]:
        """(HTTP status, content type, body) for one GET; usable without the HTTP server."""
        path = path.split("?", 1)[0]
        if path == "/health/ready":
            reason = self.readiness()
            return (200, "text/plain", "ready") if reason is None else (503, "text/plain", f"not ready: {reason}")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) == 3 and parts[0] == "lectures" and parts[2] == "integrity" and parts[1]:
            rep = self.lecture_integrity(parts[1])
            code = 200 if rep.status == "healthy" else (404 if not rep.found and not rep.error else 503)
            return code, "application/json", json.dumps(rep.to_dict())
        return 404, "application/json", json.dumps({"standin": STANDIN_LABEL, "error": f"no route {path}"})

    def readiness(self) -> str | None:
        """None when ready, else why not."""
        try:
            with psycopg.connect(self._db_url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            return self._redact(f"database: {type(e).__name__}: {e}".strip())
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except Exception as e:  # botocore raises many kinds
            return self._redact(f"bucket {self.bucket}: {type(e).__name__}")
        return None

    def _object_key(self, key: str) -> str:
        key = key.lstrip("/")
        if not self.prefix or key.startswith(self.prefix + "/"):
            return key
        return f"{self.prefix}/{key}"

    def lecture_integrity(self, lecture_id: str) -> IntegrityReport:
        try:
            with psycopg.connect(self._db_url, connect_timeout=5) as conn:
                if conn.execute(self.lecture_sql, {"id": lecture_id}).fetchone() is None:
                    return IntegrityReport(lecture_id, "unhealthy", False, [], [])
                keys: list[str] = []
                for q in self.key_sql:
                    keys += [str(r[0]) for r in conn.execute(q, {"id": lecture_id}).fetchall() if r[0]]
        except psycopg.Error as e:
            return IntegrityReport(lecture_id, "unhealthy", False, [], [],
                                   self._redact(f"{type(e).__name__}: {str(e).strip()}"))
        missing = []
        for key in sorted(set(keys)):
            full = self._object_key(key)
            try:
                self._s3.head_object(Bucket=self.bucket, Key=full)
            except Exception:  # 404 and every other failure: the lecture cannot be served whole
                missing.append(full)
        checked = [self._object_key(k) for k in sorted(set(keys))]
        return IntegrityReport(lecture_id, "unhealthy" if missing else "healthy", True, checked, missing)
