"""Runbook steps run confined (issue 16): a step reaches only what its drill created.

shared/cases/byo-docker-exec: an application's restore runbook ran `docker exec -i <db> psql ...`
against the host's Docker socket. Here a tiny runbook of our own reaches for a sentinel TCP listener
on 127.0.0.1, a sentinel PostgreSQL on its own unix socket and a fake `docker` on the step's PATH;
each must see nothing, the step records each block, and the drill is judged on its own evidence.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from restore_drill import procs, sandbox
from restore_drill.errors import InfraUnavailable
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.postgres.embedded import EmbeddedPostgres
from restore_drill.runbook import HookContext, HookOutcome, RunHooks, parse_binding, parse_runbook, run_runbook
from restore_drill.sandbox import Endpoint, Endpoints, confine, landlock
from tests.helpers import Listener

pytestmark = pytest.mark.skipif(bool(sandbox.unavailable_reason()), reason="this kernel cannot confine steps")


def _connections_logged(pg: EmbeddedPostgres) -> int:
    assert pg.tmpdir is not None
    return (pg.tmpdir / "postgres.log").read_text(errors="replace").count("connection received")


RUNBOOK = """\
# Tiny runbook that also reaches for the host
## Setup
```bash
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"
```
## Backup
```bash
mkdir -p backups
pg_dump "$DATABASE_URL" --format=custom --file="backups/tiny_$(date -u +%Y-%m-%d).dump"
```
## Restore
```bash
curl -sS --max-time 5 "http://127.0.0.1:SENTINEL_PORT/" || true
psql "postgresql://postgres@/postgres?host=SENTINEL_SOCK&port=SENTINEL_PGPORT" -c 'SELECT 1' || true
docker exec -i prod_postgres psql -U postgres -c 'SELECT 1' || true
```
```bash
pg_restore --clean --if-exists --no-owner --dbname "$DATABASE_URL" backups/<backup-file>.dump
```
## Verify
```bash
psql "$DATABASE_URL" -At -c "SELECT count(*) FROM items"
```
"""

BINDING = {
    "phases": {"setup": ["Setup"], "backup": ["Backup"], "restore": ["Restore"], "verify": ["Verify"]},
    "hooks": {"seed": "after:Setup", "disaster": "before:Restore"},
    "placeholders": {"<backup-file>": {"source": "backup_stem"}},
    "backup_globs": ["backups/*.dump"],
    "tables": ["public.items"],
}


def test_step_reaching_for_the_host_is_blocked_recorded_and_the_drill_judged_on_its_evidence(
        pg_database: Database, tmp_path: Path) -> None:
    """The sentinel listener, the sentinel PostgreSQL and the fake docker see nothing; the restore works."""
    fake = tmp_path / "fakebin"
    fake.mkdir()
    ran = tmp_path / "work" / "fake-docker-ran"  # inside the working folder: a confined step could write it
    (fake / "docker").write_text(f"#!/bin/sh\ntouch {ran}\n")
    (fake / "docker").chmod(0o755)
    listener = Listener()
    with EmbeddedPostgres(binaries.select(pg_database.major)) as sentinel:
        sentinel.admin.execute("ALTER SYSTEM SET log_connections = 'on'")
        sentinel.admin.execute("SELECT pg_reload_conf()")
        sock = sentinel.admin_db().host
        text = (RUNBOOK.replace("SENTINEL_PORT", str(listener.port)).replace("SENTINEL_SOCK", sock)
                .replace("SENTINEL_PGPORT", str(sentinel.tcp_port)))

        def seed(ctx: HookContext) -> HookOutcome:
            with pg_database.connect() as c:
                c.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g")
                c.commit()
            return HookOutcome(summary="seeded 20 items")

        def disaster(ctx: HookContext) -> HookOutcome:
            with pg_database.connect() as c:
                c.execute("TRUNCATE items")
                c.commit()
            return HookOutcome(summary="truncated items")

        env = bind(db=pg_database, client_bins=binaries.client_for(pg_database.major), workdir=tmp_path,
                   extra={"PATH": f"{binaries.client_for(pg_database.major).bindir}:{fake}:/usr/bin:/bin"})
        before = _connections_logged(sentinel)
        res = run_runbook(parse_runbook(text, "reach.md"), parse_binding(BINDING, name="reach"), env,
                          tmp_path / "work", RunHooks(seed=seed, disaster=disaster))
        blocked_pg = _connections_logged(sentinel) - before

        # Control: the same psql, unconfined, is seen by the sentinel (so zero above means something).
        procs.run([binaries.client_for(pg_database.major).tool("psql"),
                   f"postgresql://postgres@/postgres?host={sock}&port={sentinel.tcp_port}", "-c", "SELECT 1"],
                  env={"PGCONNECT_TIMEOUT": "5", "PGPASSWORD": "wrong"}, timeout_s=30)
        assert _connections_logged(sentinel) > before
    socket.create_connection(("127.0.0.1", listener.port), timeout=5).close()  # control for the listener
    listener_seen = listener.wait_for(1)  # the control is counted once the listener's thread accepts it
    listener.close()

    assert blocked_pg == 0
    assert listener_seen == 1  # only the control
    assert not ran.exists()
    reach = next(s for s in res.steps if s.name == "Restore #1")
    assert reach.status == "passed"  # `|| true`: the runbook's own choice, its exit status is kept
    assert f"blocked: reached for 127.0.0.1:{listener.port}, which this drill did not create" in reach.blocked
    assert any(b.startswith(f"blocked: reached for unix socket {sock}/.s.PGSQL.{sentinel.tcp_port}")
               for b in reach.blocked), reach.blocked
    assert any(b.startswith("blocked: ran `docker exec -i prod_postgres psql -U postgres -c") for b in reach.blocked)
    assert set(reach.blocked) <= set(reach.findings)
    # The drill's own steps worked confined, and the restore is judged on its evidence.
    assert res.status == "passed", [(s.name, s.reason, s.stderr_tail) for s in res.failed_steps]
    assert next(s for s in res.steps if s.name == "Verify #1").stdout_tail.strip() == "20"
    assert all(not s.blocked for s in res.steps if s.name != "Restore #1")


def _sandbox(tmp_path: Path, *endpoints: Endpoint, wrapper_map: dict[str, str] | None = None) -> sandbox.StepSandbox:
    return sandbox.prepare(tmp_path / "w", Endpoints.of(endpoints), wrapper_map)


ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_step_runs_unprivileged_in_its_folder_and_reaches_only_allowed_ports(tmp_path: Path) -> None:
    ok, other = Listener(), Listener()
    try:
        sb = _sandbox(tmp_path, Endpoint("the drill's API", host="127.0.0.1", port=ok.port))
        done, out = sb.run(
            f"id -u; pwd; echo x > mine.txt; : >/dev/tcp/127.0.0.1/{ok.port} && echo ok-reached;"
            f": >/dev/tcp/127.0.0.1/{other.port} || echo other-refused;"
            f"touch {tmp_path}/outside 2>/dev/null || echo write-refused; kill -0 1 2>/dev/null || echo no-signal",
            env=ENV, timeout_s=30)
    finally:
        ok.close()
        other.close()
    lines = done.stdout.split()
    assert lines[0] != "0" or os.geteuid() != 0  # never root
    assert lines[1] == str(tmp_path / "w")
    assert {"ok-reached", "other-refused", "write-refused", "no-signal"} <= set(lines), done.stderr
    assert (tmp_path / "w" / "mine.txt").read_text() == "x\n" and not (tmp_path / "outside").exists()
    assert ok.connections == 1 and other.connections == 0
    assert [b.message for b in out.blocks] == [f"blocked: reached for 127.0.0.1:{other.port}, which this drill did not create"]


def test_host_tools_are_refused_and_their_sockets_blocked_even_by_absolute_path(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path)
    done, out = sb.run("systemctl restart postgresql; echo rc=$?; sudo -u postgres true; "
                       "python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"/var/run/docker.sock\")'"
                       " 2>/dev/null; echo py=$?", env=ENV, timeout_s=30)
    assert "rc=126" in done.stdout and "py=1" in done.stdout
    msgs = [b.message for b in out.blocks]
    assert any(m.startswith("blocked: ran `systemctl restart postgresql`: systemctl would act on") for m in msgs)
    assert any(m.startswith("blocked: ran `sudo -u postgres true`") for m in msgs)
    assert "blocked: reached for unix socket /var/run/docker.sock, which this drill did not create" in msgs


def test_abstract_unix_sockets_outside_the_step_are_refused(tmp_path: Path) -> None:
    srv = socket.socket(socket.AF_UNIX)
    name = f"rd-sentinel-{os.getpid()}"
    srv.bind("\0" + name)
    srv.listen(1)
    srv.settimeout(0.2)
    try:
        done, out = _sandbox(tmp_path).run(
            f"python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect(\"\\0{name}\")' 2>/dev/null; echo $?",
            env=ENV, timeout_s=30)
        with pytest.raises(TimeoutError):
            srv.accept()
    finally:
        srv.close()
    assert done.stdout.strip() == "1"
    assert [b.what for b in out.blocks] == [f"abstract unix socket @{name}"]


def test_mapped_tool_runs_the_bindings_body_and_says_so(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path, wrapper_map={"docker": 'shift 3; exec "$@"'})
    done, out = sb.run("docker exec -i db echo from-the-drill", env=ENV, timeout_s=30)
    assert done.stdout.strip() == "from-the-drill" and done.exit_code == 0
    assert out.blocks == [] and out.mapped == ["docker exec -i db echo from-the-drill"]


def test_without_confinement_steps_are_refused_unless_the_user_opts_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    monkeypatch.delenv(sandbox.confine.UNCONFINED_ENV, raising=False)
    rec = type("Rec", (), {"findings": [], "blocked": []})()
    env = bind(db=Database("d", "u", "p", "/nonexistent", 5432, None, "16.0"),
               client_bins=binaries.client_for(16), workdir=tmp_path)
    with pytest.raises(InfraUnavailable) as e:
        sandbox.run_step("echo hi", env=ENV, cwd=tmp_path / "w", timeout_s=10, redactor=None, record=rec,
                         runbook_env=env)
    assert "Landlock is not enabled" in str(e.value) and "--unconfined" in str(e.value)
    sandbox.allow_unconfined(True)
    try:
        done = sandbox.run_step("echo hi", env=ENV, cwd=tmp_path / "w", timeout_s=10, redactor=None, record=rec,
                                runbook_env=env)
    finally:
        sandbox.allow_unconfined(False)
    assert done.stdout.strip() == "hi"
    assert rec.findings == ["ran unconfined (--unconfined): this step had the host's network, sockets and tools"]


def test_dry_run_lists_commands_bindings_tools_and_reach() -> None:
    book = parse_runbook(RUNBOOK.replace("SENTINEL_PORT", "5432").replace("SENTINEL_SOCK", "/var/run/postgresql")
                         .replace("SENTINEL_PGPORT", "5432"), "reach.md")
    lines = sandbox.dry_run(book, parse_binding(BINDING, name="reach"))
    text = "\n".join(lines)
    assert "nothing is started or run" in lines[0]
    assert "the drill's PostgreSQL (unix socket folder and TCP 127.0.0.1:<port chosen at start>)" in text
    assert '$ docker exec -i prod_postgres psql -U postgres -c \'SELECT 1\' || true' in text
    assert "docker: refused (it would act on the host's Docker daemon and its containers)" in text
    assert "bindings: $DATABASE_URL <- the drill's" in text and "placeholders: <backup-file> <- backup_stem" in text
    assert "[restore-drill] disaster hook (before:Restore)" in text


def test_dry_run_shows_the_runbook_paths_the_binding_mounts() -> None:
    """[names] folders/tools: the dry run says what each step sees at the runbook's host path, as the real run
    mounts it (sandbox.path_mounts), and that unconfined steps cannot have them (the runner makes them not_run)."""
    book = parse_runbook("# t\n## Setup\n```bash\ncd /srv/app && /usr/local/bin/aws --version\n```\n", "t.md")
    binding = parse_binding({"phases": {"setup": ["Setup"]},
                             "names": {"folders": {"/srv/app": "app"}, "tools": {"/usr/local/bin/aws": "aws"}}},
                            name="t")
    text = "\n".join(sandbox.dry_run(book, binding))
    assert "/srv/app -> the working folder's app (read-write)" in text
    assert "/usr/local/bin/aws -> the drill's aws (read-only)" in text and "bind mount" in text
    unconfined = "\n".join(sandbox.dry_run(book, binding, confined=False))
    assert "every step is not run" in unconfined
    plain = parse_binding({"phases": {"setup": ["Setup"]}}, name="t")
    assert "paths the runbook names" not in "\n".join(sandbox.dry_run(book, plain))


def test_cli_dry_run_runs_nothing(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([str(Path(sys.executable).parent / "restore-drill"), "run", "pegasus-full-restore", "--dry-run",
                          "--report-dir", str(tmp_path / "reports")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pg_dump --format=custom" in out.stdout and "aws s3 sync" in out.stdout
    assert not (tmp_path / "reports").exists()  # no run folder: nothing ran


def test_cli_drill_reports_each_block_and_passes_on_its_evidence(tmp_path: Path) -> None:
    """The corrected ArqonBus procedure plus one block reaching for the host, run by `restore-drill runbook`:
    the drill passes on its own checks, report.json/report.md name each block, the sentinels saw nothing."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    listener = Listener()
    try:
        reach = (f"\n```bash\ncurl -sS --max-time 5 http://127.0.0.1:{listener.port}/ || true\n"
                 "psql 'postgresql://postgres@/postgres?host=/var/run/postgresql' -c 'SELECT 1' || true\n"
                 "docker compose down -v || true\n```\n")
        text = (root / "drills/procedures/arqonbus.md").read_text()
        cut = text.index("The application-level test suite")
        (tmp_path / "arq.md").write_text(text[:cut] + reach + "\n" + text[cut:])
        out = subprocess.run(
            [str(Path(sys.executable).parent / "restore-drill"), "runbook", str(tmp_path / "arq.md"), "--system",
             "arqonbus", "--binding", str(root / "drills/bindings/arqonbus-corrected.toml"), "--quiet",
             "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=600, cwd=root)
    finally:
        seen = listener.wait_for(1, timeout_s=1.0)  # a reach that got through is counted even if accepted late
        listener.close()
    assert out.returncode == 0, out.stdout + out.stderr
    assert seen == 0
    (report,) = (tmp_path / "r").glob("*/report.json")
    run_dir = report.parent
    import json

    drill = json.loads((run_dir / "report.json").read_text())["drills"][0]
    (step,) = [s for s in drill["steps"] if s.get("blocked")]
    tcp = f"blocked: reached for 127.0.0.1:{listener.port}, which this drill did not create"
    # libpq takes the port from PGPORT (bound to the drill's server) when the URL names none.
    (unix,) = [b for b in step["blocked"] if b.startswith("blocked: reached for unix socket /var/run/postgresql/.s.PGSQL.")]
    (tool,) = [b for b in step["blocked"] if b.startswith("blocked: ran `docker compose down -v`")]
    assert tcp in step["blocked"] and len(step["blocked"]) == 3
    md = (run_dir / "report.md").read_text()
    assert all(line in md for line in (tcp, unix))
    # A blocked reach is a deviation in the compliance report, with its follow-up.
    compliance = (run_dir / "compliance.md").read_text()
    assert tcp in compliance and "reached for something this drill did not create" in compliance


def test_endpoints_are_what_the_drill_bound(tmp_path: Path) -> None:
    from restore_drill.sandbox.endpoints import from_variables

    e = from_variables({"DATABASE_URL": "postgresql://drill:pw@/drill_1?host=/tmp/rd-pg16-x/sock&port=41234",
                        "API_BASE_URL": "http://127.0.0.1:8081", "OTHER_URL": "http://127.0.0.1:5432"},
                       "http://127.0.0.1:9000")
    assert e.socket_dirs == ["/tmp/rd-pg16-x/sock"] and e.tcp_ports == [8081, 9000, 41234]
    assert e.allows_tcp("::1", 41234) and not e.allows_tcp("10.0.0.1", 41234) and not e.allows_tcp("127.0.0.1", 5432)
    (tmp_path / "resolv.conf").write_text("# x\nnameserver 10.0.0.53\nsearch example\n")
    from restore_drill.sandbox import endpoints

    assert endpoints.nameservers(str(tmp_path / "resolv.conf")) == ["10.0.0.53"]


def test_a_step_cannot_swap_the_shims_for_later_steps(tmp_path: Path) -> None:
    sb = _sandbox(tmp_path)
    sb.run("mv .sandbox .gone && mkdir -p .sandbox/bin && printf '#!/bin/sh\\necho fake\\n' > .sandbox/bin/docker"
           " && chmod +x .sandbox/bin/docker", env=ENV, timeout_s=30)
    done, out = sb.run("docker ps", env=ENV, timeout_s=30)
    assert done.exit_code == 126 and "fake" not in done.stdout
    assert [b.what for b in out.blocks] == ["docker ps"]


@pytest.mark.parametrize("tool", ["docker", "kubectl"])
def test_real_host_cli_by_absolute_path_reaches_nothing(tmp_path: Path, tool: str) -> None:
    """The installed docker/kubectl CLIs (no daemon or cluster behind them here), called past the shims."""
    import shutil

    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"no {tool} CLI installed")
    args = "ps" if tool == "docker" else "get pods --request-timeout=5s"
    done, out = _sandbox(tmp_path).run(f"{exe} {args}", env=ENV, timeout_s=60)
    assert done.exit_code != 0
    assert out.blocks and all(b.kind in ("unix", "tcp") for b in out.blocks), out.blocks


def test_cli_refuses_before_any_server_starts_where_steps_cannot_be_confined(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from restore_drill.cli import main
    from restore_drill.fixtures.postgres.embedded import EmbeddedPostgres as Embedded

    started: list[str] = []
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    monkeypatch.setattr(Embedded, "start", lambda self: started.append("postgres"))
    monkeypatch.delenv(sandbox.confine.UNCONFINED_ENV, raising=False)
    with pytest.raises(SystemExit) as e:
        main(["run", "arqonbus-table-restore", "--quiet", "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and started == []
    assert err.splitlines()[0] == (
        "restore-drill: error: runbook steps cannot be confined on this machine: Landlock is not enabled in this "
        "kernel; pass --unconfined (or set RESTORE_DRILL_UNCONFINED=1) to run them with the host's network, "
        "sockets and tools")
    (report,) = (tmp_path / "r").glob("*/report.json")
    assert '"errored"' in report.read_text()


# -- a binding's declared allowance: backup steps may read the drill server's data directory (issue 17) -------

def test_read_paths_grant_read_only_access_to_that_folder_alone(tmp_path: Path) -> None:
    """What `[sandbox] read_data_directory` grants (sandbox.prepare/run_step read_paths): the step reads the
    granted folder, cannot write into it, and still cannot read a readable sibling that was not granted."""
    root = tmp_path / "host"
    granted, other = root / "data", root / "other"
    for d in (granted, other):
        d.mkdir(parents=True)
        (d / "PG_VERSION").write_text(f"{d.name}\n")
        os.chmod(d, 0o755)
        os.chmod(d / "PG_VERSION", 0o644)
    script = (f"cat {granted}/PG_VERSION; touch {granted}/new 2>/dev/null || echo write-refused; "
              f"cat {other}/PG_VERSION 2>/dev/null || echo other-refused")
    sb = sandbox.prepare(tmp_path / "w", Endpoints.of([]), None, read_paths=(str(granted),))
    done, _ = sb.run(script, env=ENV, timeout_s=30)
    assert done.stdout.split() == ["data", "write-refused", "other-refused"], done.stderr
    assert not (granted / "new").exists()
    # the same step without the grant reads nothing of it
    done, _ = _sandbox(tmp_path).run(f"cat {granted}/PG_VERSION 2>/dev/null || echo refused", env=ENV, timeout_s=30)
    assert done.stdout.split() == ["refused"], done.stdout


def test_read_data_directory_is_validated_and_needs_a_local_server(tmp_path: Path) -> None:
    """[sandbox] takes only read_data_directory = true|false; declaring it where the drill has no data directory
    of its own (any non-physical drill) is BadInput naming the key, before any step runs."""
    from restore_drill.errors import BadInput

    for bad in ({"read_data_directory": "yes"}, {"read_everything": True}, ["read_data_directory"]):
        with pytest.raises(BadInput, match=r"\[sandbox\] takes only read_data_directory"):
            parse_binding({**BINDING, "sandbox": bad}, name="t")
    b = parse_binding({**BINDING, "sandbox": {"read_data_directory": True}}, name="t")
    assert b.sandbox.read_data_directory and not parse_binding(BINDING, name="t").sandbox.read_data_directory
    env = None  # refused before the environment is read
    marker = tmp_path / "w" / "ran"
    with pytest.raises(BadInput, match="read_data_directory = true, but this drill's database server has no data"):
        run_runbook(parse_runbook(f"# t\n## Setup\n```bash\ntouch {marker}\n```\n", "t.md"),
                    parse_binding({"phases": {"setup": ["Setup"]}, "sandbox": {"read_data_directory": True}}, name="t"),
                    env, tmp_path / "w")  # type: ignore[arg-type]
    assert not marker.exists()


def test_a_declared_allowance_is_recorded_and_is_no_deviation() -> None:
    """The runner records the grant on the step (allowances + one finding); the report's step_deviation ignores
    it, so a step that ran as written under a declared allowance stays "executed as written"."""
    from restore_drill.reports.model import ReportStep, step_deviation
    from restore_drill.runbook import RunbookStepRecord

    line = "declared allowance: read-only access to the drill server's data directory /x (binding [sandbox] ...)"
    rec = RunbookStepRecord(name="Base Backup #1", phase="backup", command="barman-cloud-backup ...", status="passed",
                            allowances=[line], findings=[line])
    assert step_deviation(rec) is None
    back = ReportStep.from_dict(rec.to_dict())  # as report.json gives it back
    assert back.more["allowances"] == [line] and step_deviation(back) is None


def test_a_long_working_folder_still_gives_steps_a_tmpdir_that_fits_a_unix_socket(tmp_path: Path) -> None:
    """A unix socket path holds 107 bytes; Python's multiprocessing (Barman cloud's uploads) binds one under
    $TMPDIR. Under a long working folder the step gets a short private TMPDIR for that step, usable (its own
    manager's socket connects), and removed after the step."""
    import shutil
    import sys

    deep = tmp_path / ("d" * 60) / ("e" * 40)
    sb = sandbox.prepare(deep, Endpoints.of([]), None)
    code = "import multiprocessing, os; m = multiprocessing.Manager(); q = m.Queue(); q.put(7); print(q.get(), os.environ['TMPDIR'])"
    done, out = sb.run(f"{sys.executable} -c \"{code}\"", env=ENV, timeout_s=60)
    assert done.exit_code == 0, done.stderr
    got, tmpdir = done.stdout.split()
    assert got == "7" and len(tmpdir) <= confine.TMPDIR_MAX and not out.blocks, (done.stdout, out.blocks)
    assert not Path(tmpdir).exists()
    near = Path("/tmp") / f"rd-near-{os.urandom(3).hex()}"  # a short working folder keeps its own .tmp
    try:
        done, _ = sandbox.prepare(near, Endpoints.of([]), None).run("echo $TMPDIR", env=ENV, timeout_s=30)
        assert done.stdout.strip() == str(near / ".tmp")
    finally:
        shutil.rmtree(near, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="a step's private mount namespace needs root (CI runs as root)")
def test_runbook_paths_are_shown_to_the_step_and_never_made_on_the_host(tmp_path: Path) -> None:
    """[names] folders/tools (sandbox.path_mounts + run(mounts=)): `cd /srv/app-<random>` lands in the working
    folder (read-write), `/usr/local/bin/<random>-aws` runs the drill's tool (read-only); neither path exists
    on the host before, during (outside the step's namespace) or after the step."""
    tag = os.urandom(4).hex()
    folder, tool = f"/srv/app-{tag}/data", f"/usr/local/bin/{tag}-aws"
    assert not os.path.lexists(os.path.dirname(folder)) and not os.path.lexists(tool)
    w = tmp_path / "w"
    mounts = sandbox.path_mounts({folder: "app"}, {tool: "true"}, w, ENV)
    assert [(m.target, m.writable) for m in mounts] == [(folder, True), (tool, False)]
    script = (f"cd {folder} && echo dumped > app.dump && pwd && {tool} && echo tool-ran && "
              f"(cp /bin/false {tool} 2>/dev/null || echo tool-read-only) && ls /usr/local/bin | grep -c . && "
              f"(touch /srv/other-{tag} 2>/dev/null || echo srv-read-only)")
    done, _ = _sandbox(tmp_path).run(script, env=ENV, timeout_s=30, mounts=mounts)
    lines = done.stdout.split()
    assert done.exit_code == 0, done.stderr
    assert lines[0] == folder and lines[1:3] == ["tool-ran", "tool-read-only"] and lines[-1] == "srv-read-only"
    assert int(lines[3]) == len(os.listdir("/usr/local/bin")) + 1  # the host's own tools still shown, plus ours
    assert (w / "app" / "app.dump").read_text() == "dumped\n"
    assert not os.path.lexists(os.path.dirname(folder)) and not os.path.lexists(tool)
    assert not os.path.lexists(f"/srv/other-{tag}")
    # Without the mounts the same step finds nothing there, and the host still has neither path.
    done, _ = _sandbox(tmp_path).run(f"cd {folder}", env=ENV, timeout_s=30)
    assert done.exit_code != 0 and folder in done.stderr
    assert not os.path.lexists(os.path.dirname(folder)) and not os.path.lexists(tool)


def test_runbook_paths_need_a_mount_namespace_and_say_why(tmp_path: Path) -> None:
    """Unconfined (or not root) a step cannot be shown runbook paths: run() refuses naming why, and a tool the
    drill lacks or a folder leaving the working folder is bad input naming the [names] entry."""
    from restore_drill.errors import BadInput
    from restore_drill.sandbox.confine import mounts_reason

    assert "--unconfined" in mounts_reason(False, (1, 1)) and "root" in mounts_reason(True, None)
    mounts = sandbox.path_mounts({"/srv/app-x": "."}, {}, tmp_path / "w", ENV)
    with pytest.raises(InfraUnavailable, match=r"\[names\] folders/tools"):
        _sandbox(tmp_path).run("true", env=ENV, timeout_s=30, confined=False, mounts=mounts)
    with pytest.raises(BadInput, match=r"\[names\] tools '/usr/local/bin/aws' = 'no-such-tool-x'"):
        sandbox.path_mounts({}, {"/usr/local/bin/aws": "no-such-tool-x"}, tmp_path / "w", ENV)
    (tmp_path / "w" / "out").symlink_to(tmp_path)
    with pytest.raises(BadInput, match="leads out of the working folder"):
        sandbox.path_mounts({"/srv/app": "out"}, {}, tmp_path / "w", ENV)


def test_unconfined_steps_of_a_binding_with_runbook_paths_are_not_run_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--unconfined gives a step no private mount namespace, so [names] folders cannot be shown to it: the
    runner makes the step not_run naming why (never runs it against the host's real path or rewrites it)."""
    monkeypatch.delenv(sandbox.confine.UNCONFINED_ENV, raising=False)
    folder = f"/srv/app-{os.urandom(4).hex()}"
    env = bind(db=Database("d", "u", "p", "/nonexistent", 5432, None, "16.0"),
               client_bins=binaries.client_for(16), workdir=tmp_path)
    book = parse_runbook(f"# t\n## Setup\n```bash\nmkdir -p {folder} && touch {folder}/ran\n```\n", "t.md")
    binding = parse_binding({"phases": {"setup": ["Setup"]}, "names": {"folders": {folder: "."}}}, name="t")
    sandbox.allow_unconfined(True)
    try:
        res = run_runbook(book, binding, env, tmp_path / "w", observe_effects=False)
    finally:
        sandbox.allow_unconfined(False)
    step = res.steps[0]
    assert step.status == "not_run" and "[names] folders/tools" in step.reason and "--unconfined" in step.reason
    assert not os.path.lexists(folder) and not (tmp_path / "w" / "ran").exists()
