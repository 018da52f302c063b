"""Run one runbook step confined: unprivileged user, private HOME/TMPDIR, Landlock, seccomp, shims.

How a step starts (all in the forked child, before bash is exec'd; prepared in the parent):
1. as root only: a private mount namespace where folders the step needs but cannot reach (a clone
   under /root, pytest's 0700 temp root) are shown through a tmpfs holding just those paths; then
   setgroups/setgid/setuid to the server user (``fixtures.runtime_user.server_user``);
2. PR_SET_NO_NEW_PRIVS (setuid binaries such as sudo gain nothing), Landlock (read-only system
   folders, read-write working folder only, TCP connect only to the drill's ports, abstract unix
   sockets and signals scoped to the step), a seccomp filter whose listener goes to the harness;
3. the ``Supervisor`` answers each connect(2): the drill's endpoints continue, everything else fails
   with EACCES and becomes a "blocked: reached for ..." finding on the step.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restore_drill import procs
from restore_drill.errors import InfraUnavailable, StepTimeout
from restore_drill.redact import Redactor

from . import landlock, seccomp, shims
from .endpoints import Endpoints

SYSTEM_READ = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys")
DEV_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
# glibc asks these before reading /etc/passwd; refusing them is harmless (it falls back to files).
NAME_SERVICE = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/userdb/")
SANDBOX_DIR = ".sandbox"
# A unix socket path holds at most 107 bytes (sun_path[108], unix(7)). Python's multiprocessing binds its
# manager's listener at $TMPDIR/pymp-XXXXXXXX/listener-XXXXXXXX (33 more bytes; Barman cloud's uploads use
# one), so a long TMPDIR fails with "AF_UNIX path too long": the step then gets a short private TMPDIR under
# /tmp instead, for that step only, removed after it. The bound keeps a wide margin: a 69-byte TMPDIR still
# failed barman-cloud-backup (seen from a clone with --report-dir /tmp/t-reports), whose sockets sit deeper.
TMPDIR_MAX = 40
UNCONFINED_ENV = "RESTORE_DRILL_UNCONFINED"

CLONE_NEWNS, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 4096, 16384, 1 << 18
MS_RDONLY, MS_NOSUID, MS_REMOUNT = 1, 2, 32
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Block:
    """One reach the sandbox refused: ``what`` is a TCP address, a unix socket path or a tool command."""

    kind: str  # tcp | unix | tool | other
    what: str
    count: int = 1

    @property
    def message(self) -> str:
        times = f" ({self.count} times)" if self.count > 1 else ""
        if self.kind == "tool":
            tool = self.what.split(" ", 1)[0]
            return (f"blocked: ran `{self.what}`{times}: {tool} would act on {shims.HOST_TOOLS.get(tool, 'the host')}, "
                    "which this drill did not create (map it onto the drill in the binding to run it)")
        where = f"unix socket {self.what}" if self.kind == "unix" else self.what
        return f"blocked: reached for {where}{times}, which this drill did not create"


@dataclass(frozen=True)
class PathMount:
    """A host path the runbook spells (``target``, absolute) shown to one step as ``source`` (a real path
    of the drill: a folder inside its working folder, or one of its tools) by a bind mount in that step's
    private mount namespace. ``writable``: read-write (folders) or read-only (tools). The host's own
    ``target`` is never created or changed: a missing target's nearest existing parent is covered, in the
    namespace only, by a tmpfs that shows that parent's entries again (bind mounts) plus the target."""

    target: str
    source: str
    writable: bool


@dataclass
class StepOutcome:
    """What a confined step did besides its exit status: refused reaches and mapped tool calls."""

    blocks: list[Block] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)  # tool commands the binding's wrapper_map ran
    confined: bool = True


def blocked_ancestor(path: str, uid: int, gids: set[int]) -> str | None:
    """The topmost folder on the way to ``path`` (inclusive, if a folder) that ``uid`` cannot search, or None."""
    from restore_drill.fixtures.runtime_user import RunAs

    return RunAs(uid, min(gids) if gids else None, "").blocked_at(path)


class StepSandbox:
    """A prepared confinement for the steps of one drill (one working folder).

    ``endpoints``: what the steps may connect to. ``wrapper_map``: host tool -> bash body that runs in
    its place (see ``shims.write_shims``). ``run_as``: (uid, gid) when the harness is root, None to
    run as ourselves (we are not root then). ``read_paths``: extra read-only folders (the Python and
    PostgreSQL installs the step's tools live in). Building it raises nothing; ``run`` raises
    InfraUnavailable when the confinement cannot be set up.
    """

    def __init__(self, workdir: Path, endpoints: Endpoints, wrapper_map: Mapping[str, str] | None = None,
                 run_as: tuple[int, int] | None = None, read_paths: Iterable[str] = ()) -> None:
        self.workdir = Path(workdir).resolve()
        self.endpoints = endpoints
        self.wrapper_map = dict(wrapper_map or {})
        self.run_as = run_as
        self.read_paths = tuple(dict.fromkeys(os.path.realpath(p) for p in read_paths))
        self.shim_dir = self.workdir / SANDBOX_DIR / "bin"
        self.tmpdir = self.workdir / ".tmp"
        self._step_tmp: tuple[str, ...] = ()  # a short TMPDIR of the running step (see TMPDIR_MAX)
        self._ready = False
        self._abi = landlock.abi_version()

    # -- environment -------------------------------------------------------------------------------
    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The step's environment: ``base`` with the shims first on PATH and a private TMPDIR."""
        env = dict(base)
        env["PATH"] = os.pathsep.join([str(self.shim_dir), env.get("PATH", "/usr/bin:/bin")])
        env["TMPDIR"] = str(self.tmpdir)
        return env

    def _prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tmpdir.mkdir(exist_ok=True)
        if self._ready and self.run_as is not None:
            # A step owns the working folder and could have swapped the shims for its own.
            try:
                self._ready = all(p.stat().st_uid == os.geteuid() for p in (self.shim_dir.parent, self.shim_dir))
            except OSError:
                self._ready = False
            if not self._ready:
                shutil.rmtree(self.shim_dir.parent, ignore_errors=True)
        if not self._ready:
            shims.write_shims(self.shim_dir, self.wrapper_map)
            os.chmod(self.shim_dir.parent, 0o755)
            self._ready = True
        if self.run_as is not None:
            uid, gid = self.run_as
            # Files the harness wrote (the private AWS config, copied binding files) become the step's;
            # the shims stay root's so a step cannot rewrite them.
            for root, dirs, files in os.walk(self.workdir):
                if Path(root) == self.workdir and SANDBOX_DIR in dirs:
                    dirs.remove(SANDBOX_DIR)
                for name in [*dirs, *files]:
                    with contextlib.suppress(OSError):
                        os.lchown(os.path.join(root, name), uid, gid)
            os.chown(self.workdir, uid, gid)

    def _fs_rules(self) -> list[landlock.PathRule]:
        rules = [landlock.PathRule(p, landlock.READ_EXEC) for p in (*SYSTEM_READ, *self.read_paths)]
        rules.append(landlock.PathRule("/dev", landlock.READ_EXEC | landlock.FS_IOCTL_DEV))
        rules += [landlock.PathRule(p, landlock.FILE_RIGHTS) for p in DEV_FILES]
        rules.append(landlock.PathRule(str(self.workdir), landlock.all_fs_rights(self._abi)))
        return rules

    def _exposures(self, extra: tuple[str, ...] = ()) -> list[tuple[str, list[str]]]:
        """[(blocked folder, [paths beneath it the step needs])] for the mount namespace (root only)."""
        if self.run_as is None:
            return []
        uid, gid = self.run_as
        need = [str(self.workdir), *self.read_paths, *self.endpoints.socket_dirs, *extra]
        out: dict[str, list[str]] = {}
        for p in need:
            anc = blocked_ancestor(p, uid, {gid})
            if anc is not None:
                out.setdefault(anc, []).append(p)
        # An exposure inside another's tmpfs is covered by the outer one.
        tops = [a for a in out if not any(a != b and a.startswith(b.rstrip("/") + "/") for b in out)]
        return [(a, sorted({p for b, ps in out.items() if b == a or b.startswith(a.rstrip("/") + "/") for p in ps}))
                for a in tops]

    # -- judging connections --------------------------------------------------------------------
    def judge(self, family: str, target: str, key: object) -> tuple[bool, bool]:
        """(allowed, quiet) for one connect(2); see seccomp.Supervisor."""
        if family in ("unspec", "netlink"):
            return True, False
        if family == "unix":
            if not isinstance(key, str):
                return False, False
            if any(key == d or key.startswith(d.rstrip("/") + "/") for d in
                   (*self.endpoints.socket_dirs, str(self.workdir), *self._step_tmp)):
                return True, False
            return False, any(key.startswith(n) for n in NAME_SERVICE)
        if family in ("inet", "inet6") and isinstance(key, tuple):
            return self.endpoints.allows_tcp(key[0], key[1]), False
        return False, False

    # -- running ----------------------------------------------------------------------------------
    def run(self, script: str, *, env: Mapping[str, str], timeout_s: float,
            redactor: Redactor | None = None, confined: bool = True,
            writable: tuple[str, ...] = (), mounts: tuple[PathMount, ...] = ()) -> tuple[procs.Completed, StepOutcome]:
        """Run ``script`` with bash, confined. Returns (completed, outcome); raises StepTimeout like
        ``procs.run`` (with the outcome attached as ``.outcome``) and InfraUnavailable when the
        confinement cannot be applied (naming --unconfined). ``confined=False`` (the user's
        --unconfined) runs it as before this sandbox existed, keeping only the shims on PATH.
        ``writable``: files outside the working folder the step may write (the runner's ERR-trap log), or
        folders (every right beneath them: the runner's shared_folders).
        ``mounts``: runbook paths shown to this step (see PathMount); raises InfraUnavailable naming why when
        they cannot be (unconfined, or not root: only root can make the step's mount namespace)."""
        if confined and (why := unavailable_reason()):
            raise InfraUnavailable(why)
        if mounts and (why := self.mounts_unavailable(confined)):
            raise InfraUnavailable(why)
        self._prepare()
        writable = tuple(os.path.realpath(w) for w in writable)
        if self.run_as is not None:
            for w in writable:
                with contextlib.suppress(OSError):
                    os.chown(w, *self.run_as)
        shim_r, shim_w = os.pipe()
        log: list[bytes] = []
        reader = threading.Thread(target=_drain, args=(shim_r, log), daemon=True)
        reader.start()
        child_env = self.env(env)
        child_env[shims.FD_VAR] = str(shim_w)
        if len(str(self.tmpdir)) > TMPDIR_MAX:
            short = tempfile.mkdtemp(prefix="rd-step-", dir="/tmp")
            if self.run_as is not None:
                os.chown(short, *self.run_as)
            self._step_tmp = (short,)
            child_env["TMPDIR"] = short
        outcome = StepOutcome(confined=confined)
        supervisor: list[seccomp.Supervisor] = []
        extra: dict[str, Any] = {"pass_fds": (shim_w,)}
        closers: list[Any] = []
        if confined:
            extra = self._confine(supervisor, shim_w, closers, writable, mounts)
        try:
            done = procs.run([script], shell=True, env=child_env, cwd=self.workdir, timeout_s=timeout_s,
                             redactor=redactor, **extra)
        except subprocess.SubprocessError as e:
            why = ""
            if closers:
                with contextlib.suppress(OSError):
                    closers[0].settimeout(1)
                    why = closers[0].recv(512)[1:].decode(errors="replace")
            raise InfraUnavailable(f"could not confine the runbook step ({why or e}); "
                                   f"pass --unconfined to run steps without confinement") from None
        except StepTimeout as e:
            self._collect(outcome, supervisor, shim_w, reader, log)
            e.outcome = outcome  # type: ignore[attr-defined]
            raise
        finally:
            for c in closers:
                with contextlib.suppress(OSError):
                    c.close() if hasattr(c, "close") else os.close(c)
            for d in self._step_tmp:
                shutil.rmtree(d, ignore_errors=True)
            self._step_tmp = ()
        self._collect(outcome, supervisor, shim_w, reader, log)
        return done, outcome

    def mounts_unavailable(self, confined: bool = True) -> str:
        """Why runbook paths ([names] folders/tools) cannot be shown to this sandbox's steps; '' when they can."""
        return mounts_reason(confined, self.run_as)

    def _confine(self, supervisor: list[seccomp.Supervisor], shim_w: int, closers: list[Any],
                 writable: tuple[str, ...], mounts: tuple[PathMount, ...] = ()) -> dict[str, Any]:
        """Popen arguments that confine the child; ``closers`` get what the parent closes afterwards."""
        # A writable folder (runner's shared_folders) gets every right beneath it; a writable file, file rights.
        rules = self._fs_rules() + [landlock.PathRule(w, landlock.all_fs_rights(self._abi) if os.path.isdir(w)
                                                      else landlock.FILE_RIGHTS) for w in writable]
        # Landlock judges a path by the inodes on its way up, and a bind mount's way up starts at its source:
        # the rule on the working folder does not cover a subfolder mounted elsewhere, so each source gets its own.
        rules += [landlock.PathRule(m.source, landlock.all_fs_rights(self._abi) if m.writable else landlock.READ_EXEC)
                  for m in mounts]
        rules += [landlock.PathRule(d, landlock.all_fs_rights(self._abi)) for d in self._step_tmp]
        ruleset = landlock.build_ruleset(rules, self.endpoints.tcp_ports, self._abi)
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        closers += [parent_sock, child_sock, ruleset]
        installer = seccomp.Installer()
        exposures = self._exposures(writable + self._step_tmp)
        run_as = self.run_as
        workdir = str(self.workdir)
        child_fd = child_sock.fileno()

        def preexec() -> None:
            try:
                if exposures or mounts:
                    _expose(exposures)
                    _mount_paths(mounts)
                    os.chdir(workdir)
                if run_as is not None:
                    os.setgroups([])
                    os.setgid(run_as[1])
                    os.setuid(run_as[0])
                installer.no_new_privs()
                landlock.restrict_self(ruleset)
                listener = installer.install()
                socket.send_fds(child_sock, [b"L"], [listener])
                os.close(listener)
                os.close(ruleset)
                os.close(child_fd)
            except BaseException as e:
                with contextlib.suppress(OSError):
                    child_sock.send(b"E" + f"{type(e).__name__}: {e}".encode()[:400])
                raise

        def started(_proc: subprocess.Popen[str]) -> None:
            child_sock.close()
            parent_sock.settimeout(10)
            msg, fds, _flags, _addr = socket.recv_fds(parent_sock, 512, 1)
            if not fds:
                raise InfraUnavailable(f"could not confine the runbook step ({msg[1:].decode(errors='replace')}); "
                                       "pass --unconfined to run steps without confinement")
            supervisor.append(seccomp.Supervisor(fds[0], self.judge))

        return {"preexec_fn": preexec, "pass_fds": (child_fd, ruleset, shim_w), "on_start": started}

    def _collect(self, outcome: StepOutcome, supervisor: list[seccomp.Supervisor], shim_w: int,
                 reader: threading.Thread, log: list[bytes]) -> None:
        attempts = supervisor[0].stop() if supervisor else []
        with contextlib.suppress(OSError):
            os.close(shim_w)
        reader.join(2)
        counts: dict[tuple[str, str], int] = {}
        for a in attempts:
            if not a.allowed and not a.quiet:
                kind = "unix" if a.family == "unix" else "tcp" if a.family in ("inet", "inet6") else "other"
                counts[(kind, a.target)] = counts.get((kind, a.target), 0) + 1
        for kind_, tool, args in shims.parse_log(b"".join(log).decode(errors="replace")):
            cmd = f"{tool} {args}".strip()
            if kind_ == "mapped":
                outcome.mapped.append(cmd)
            else:
                counts[("tool", cmd)] = counts.get(("tool", cmd), 0) + 1
        outcome.blocks = [Block(k, w, n) for (k, w), n in counts.items()]


def _drain(fd: int, into: list[bytes]) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into.append(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _expose(exposures: list[tuple[str, list[str]]]) -> None:
    """In the child (root): a private mount namespace; each blocked folder becomes a 0755 tmpfs
    holding only the needed paths beneath it (bind mounts of the originals)."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    for top, paths in exposures:
        fds = [(p, os.open(p, os.O_PATH)) for p in paths if os.path.exists(p)]
        _check(_libc.mount(b"tmpfs", top.encode(), b"tmpfs", 0, b"mode=0755,size=64k"), f"mount tmpfs on {top}")
        for p, fd in fds:
            rel = os.path.relpath(p, top)
            target = os.path.join(top, rel) if rel != "." else top
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "a").close()  # noqa: SIM115 - a mount point for a file
            _check(_libc.mount(f"/proc/self/fd/{fd}".encode(), target.encode(), None, MS_BIND | MS_REC, None),
                   f"bind {p}")
            os.close(fd)


def mounts_reason(confined: bool, run_as: tuple[int, int] | None) -> str:
    """Why runbook paths ([names] folders/tools) cannot be shown to steps; '' when they can. ``run_as``: the
    server user the steps run as (None: the harness is not root)."""
    if not confined:
        return ("the binding's [names] folders/tools are shown to each step through its private mount namespace, "
                "which an unconfined (--unconfined) step does not get; run confined, or run the runbook where the "
                "folders and tools it names really are")
    if run_as is None or os.geteuid() != 0:
        return ("the binding's [names] folders/tools are shown to each step through a private mount namespace, "
                "which only a drill run as root can make (its steps then run as the server user)")
    return ""


def _mount_paths(mounts: tuple[PathMount, ...]) -> None:
    """In the child (root), inside the private namespace _expose made: bind each mount's source at its
    target. A missing target's nearest existing parent gets a tmpfs holding its old entries (bind mounts /
    symlinks of the originals) and the missing folders, so nothing is created on the host."""
    covered: list[str] = []
    for m in mounts:
        is_dir = os.path.isdir(m.source)
        src = os.open(m.source, os.O_PATH)
        if not os.path.lexists(m.target):
            parent = os.path.dirname(m.target)
            while not os.path.lexists(parent):
                parent = os.path.dirname(parent)
            if not any(parent == c or parent.startswith(c.rstrip("/") + "/") for c in covered):
                if parent == "/":
                    raise OSError(f"cannot show {m.target}: the host has no {m.target.split('/')[1]!r} under /, "
                                  "and the drill never creates folders on the host")
                _cover(parent)
                covered.append(parent)
            if is_dir:
                os.makedirs(m.target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(m.target), exist_ok=True)
                open(m.target, "a").close()  # noqa: SIM115 - a mount point for a file
        _check(_libc.mount(f"/proc/self/fd/{src}".encode(), m.target.encode(), None, MS_BIND | MS_REC, None),
               f"bind {m.source} at {m.target}")
        if not m.writable:
            _check(_libc.mount(b"none", m.target.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None),
                   f"read-only {m.target}")
        os.close(src)


def _cover(folder: str) -> None:
    """Put a tmpfs over ``folder`` (this namespace only) that still shows each of its entries."""
    st = os.stat(folder)
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    names = os.listdir(folder)
    _check(_libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0,
                       f"mode={st.st_mode & 0o7777:o},uid={st.st_uid},gid={st.st_gid}".encode()),
           f"mount tmpfs on {folder}")
    for name in names:
        old, new = f"/proc/self/fd/{fd}/{name}", os.path.join(folder, name)
        if os.path.islink(old):
            os.symlink(os.readlink(old), new)
            continue
        if os.path.isdir(old):
            os.mkdir(new)
        else:
            open(new, "a").close()  # noqa: SIM115 - a mount point for a file
        _check(_libc.mount(old.encode(), new.encode(), None, MS_BIND | MS_REC, None), f"bind {folder}/{name}")
    os.close(fd)


def unavailable_reason() -> str:
    """One line saying why steps cannot be confined here and naming the opt-in; '' when they can."""
    abi = landlock.abi_version()
    if abi < 4:
        what = "Landlock is not enabled in this kernel" if abi == 0 else f"Landlock ABI {abi} has no TCP rules (needs 4, Linux 6.7+)"
        return (f"runbook steps cannot be confined on this machine: {what}; pass --unconfined (or set "
                f"{UNCONFINED_ENV}=1) to run them with the host's network, sockets and tools")
    if not seccomp.supported_arch():
        import platform
        return (f"runbook steps cannot be confined on this machine: no seccomp filter for {platform.machine()}; "
                f"pass --unconfined (or set {UNCONFINED_ENV}=1) to run them unconfined")
    return ""


def python_paths() -> list[str]:
    """Folders the venv's Python (and so the `aws` CLI) needs to read: the venv, its base install, and
    restore-drill's own package (the binding's tool wrappers run runbook/wrappers.py from it)."""
    pkg = str(Path(__file__).resolve().parent.parent)
    return [p for p in dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, pkg,
                                     os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))]) if p]
