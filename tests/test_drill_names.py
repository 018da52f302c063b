"""The drill's server answers the way a runbook asks: TCP 127.0.0.1 at a free port (with a retry when the probed
port is taken before postgres binds it), and the database/roles under the names the binding declares."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from restore_drill.errors import BadInput
from restore_drill.fixtures import binaries
from restore_drill.fixtures.postgres import embedded
from restore_drill.runbook import Names, drill_database


def test_embedded_server_retries_when_the_probed_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """shared/cases/byo-libpq-flags: `-h localhost` needs a TCP listener; port 0 is not possible for postgres,
    so a probed port another process grabbed first must lead to a retry, not a failed start."""
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    picks: Iterator[int] = iter([taken])
    real = embedded.free_port
    monkeypatch.setattr(embedded, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
    srv = embedded.EmbeddedPostgres(binaries.select(None))
    try:
        srv.start()
        assert srv.tcp_port not in (0, taken)
        with psycopg.connect(host="127.0.0.1", port=srv.tcp_port, user="drill", password=srv.password,
                             dbname="postgres", connect_timeout=10) as c:
            assert c.execute("SELECT current_setting('port')::int").fetchone() == (srv.tcp_port,)
    finally:
        srv.stop()
        squatter.close()


class _External:
    kind = "external"

    def admin_db(self) -> Any:
        raise AssertionError("must refuse before touching the server")


def test_roles_are_never_created_on_an_external_server() -> None:
    with pytest.raises(BadInput, match="only be created on a disposable server"):
        drill_database(_External(), Names(database="app", user="app"))


def test_named_database_and_roles_on_a_disposable_server(drill_infra: Any) -> None:
    """shared/cases/byo-sudo-wrapper: the database carries the runbook's name, the user owns it and logs in with
    the drill's password, "postgres" is a superuser; a second drill asking for the same name is refused."""
    srv = drill_infra.postgres()
    db = drill_database(srv, Names(database="synapse_t", user="synapse_t", roles=("postgres", "reader_t")))
    try:
        assert (db.name, db.user) == ("synapse_t", "synapse_t")
        with db.connect() as c:
            owner, = c.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'synapse_t'").fetchone()
            supers = dict(c.execute("SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN "
                                    "('synapse_t', 'postgres', 'reader_t')").fetchall())
        assert owner == "synapse_t" and supers == {"synapse_t": True, "postgres": True, "reader_t": False}
        with pytest.raises(BadInput, match="already exists"):
            drill_database(srv, Names(database="synapse_t"))
    finally:
        drill_infra.drop(db)
