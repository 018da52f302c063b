"""api_probe against a real HTTP server on 127.0.0.1:0 that the test starts and stops."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from restore_drill.checks import api_probe
from restore_drill.checks.result import Status


class FakePegasus(BaseHTTPRequestHandler):
    ready = True
    unhealthy: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health/ready":
            code, body = (200, {"status": "ready"}) if self.ready else (503, {"status": "starting"})
        elif self.path.startswith("/lectures/") and self.path.endswith("/integrity"):
            lid = self.path.split("/")[2]
            if lid in self.unhealthy:
                code, body = 200, {"status": "degraded", "missing": [f"transcripts/{lid}.txt"]}
            else:
                code, body = 200, {"status": "healthy"}
        else:
            code, body = 404, {"error": "not found"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[type[FakePegasus]]:
    handler = type("H", (FakePegasus,), {"ready": True, "unhealthy": set()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.base_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_ready_and_healthy_passes(api):
    res = api_probe(api.base_url, [1, 2, 3])
    assert res.status is Status.PASSED, res.message
    assert [p["path"] for p in res.evidence["probes"]["items"]] == [
        "/health/ready", "/lectures/1/integrity", "/lectures/2/integrity", "/lectures/3/integrity"]


def test_not_ready_fails(api):
    api.ready = False
    res = api_probe(api.base_url, [1])
    assert res.status is Status.FAILED and "GET /health/ready -> 503" in res.message


def test_unhealthy_lecture_fails_naming_it(api):
    api.unhealthy = {"2"}
    res = api_probe(api.base_url, [1, 2])
    assert res.status is Status.FAILED
    assert "GET /lectures/2/integrity -> 200" in res.message and "degraded" in res.message


def test_unreachable_api_fails_and_unconfigured_is_skipped():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = api_probe(f"http://127.0.0.1:{port}", [1], timeout_s=2)
    assert res.status is Status.FAILED and "ConnectError" in res.message
    assert api_probe(None, [1]).status is Status.SKIPPED


def test_an_answer_from_the_stand_in_says_so(api):
    """Fresh-user finding 11: "passed: ready, and 3 sampled lecture(s) healthy" was the stand-in's answer; the
    message (and so compliance.md's Checks row) must say who answered."""
    from restore_drill.checks.api import STANDIN_HEADER as READ
    from restore_drill.standin_api import STANDIN_HEADER, STANDIN_LABEL

    assert READ == STANDIN_HEADER  # the check reads the header the stand-in writes
    plain = api_probe(api.base_url, [1])
    assert "answered by" not in plain.message and "answered_by" not in plain.evidence
    orig = FakePegasus.send_header

    def with_label(self, key, value):  # the stand-in's own header, as restore_drill/standin_api.py sends it
        orig(self, key, value)
        if key == "Content-Type":
            orig(self, STANDIN_HEADER, STANDIN_LABEL)

    api.send_header = with_label
    res = api_probe(api.base_url, [1, 2])
    assert res.status is Status.PASSED
    assert res.message.startswith(f"answered by {STANDIN_LABEL}: ready"), res.message
    assert res.evidence["answered_by"] == [STANDIN_LABEL]
    api.unhealthy = {"2"}
    res = api_probe(api.base_url, [1, 2])
    assert res.status is Status.FAILED and res.message.startswith(f"answered by {STANDIN_LABEL}:")
