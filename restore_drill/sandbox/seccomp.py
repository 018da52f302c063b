"""seccomp user notification on connect(2): every connection a step attempts is seen, judged, recorded.

The step's first process installs a filter (``install``) whose listener fd goes to the harness; each
connect(2) in the step or anything it starts (filters survive fork and exec) then waits until the
``Supervisor`` thread reads the address from the caller's memory and answers: allowed targets continue
into the kernel (where Landlock's port rules still apply), others fail with EACCES and are recorded.
Kernel sources: Documentation/userspace-api/seccomp_filter.rst ("Userspace Notification"),
include/uapi/linux/seccomp.h for the structures and ioctl numbers used here.

Known limit (same document): the address is read from the step's memory before the kernel reads it
again, so a multi-threaded step that rewrites the address in that window could reach a target the
supervisor did not approve. TCP is still limited by Landlock's port rules; pathname unix sockets are not.
io_uring (whose connect bypasses seccomp) and non-native syscall ABIs are refused outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

_ARCH = {  # machine -> (AUDIT_ARCH_*, __NR_connect, __NR_io_uring_setup, __NR_seccomp)
    "x86_64": (0xC000003E, 42, 425, 317),
    "aarch64": (0xC00000B7, 203, 425, 277),
}
RET_ALLOW, RET_USER_NOTIF, RET_ERRNO = 0x7FFF0000, 0x7FC00000, 0x00050000
SET_MODE_FILTER, FLAG_NEW_LISTENER = 1, 1 << 3
NOTIF_RECV, NOTIF_SEND, NOTIF_ID_VALID = 0xC0502100, 0xC0182101, 0x40082102
FLAG_CONTINUE = 1
_NOTIF = struct.Struct("=QII iI Q 6Q")  # struct seccomp_notif (80 bytes)
_RESP = struct.Struct("=QqiI")  # struct seccomp_notif_resp (24 bytes)
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def supported_arch() -> bool:
    return platform.machine() in _ARCH


def _program() -> tuple[_SockFprog, ctypes.Array[_SockFilter]]:
    audit, nr_connect, nr_uring, _ = _ARCH[platform.machine()]
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    eperm = RET_ERRNO | errno.EPERM
    prog = [
        (ld, 0, 0, 4),                 # A = arch
        (jeq, 1, 0, audit),            # native ABI -> 3
        (ret, 0, 0, eperm),            # another ABI (int 0x80, compat): refused
        (ld, 0, 0, 0),                 # A = syscall nr
        (jge, 0, 1, 0x40000000),       # x32 numbers -> refused
        (ret, 0, 0, eperm),
        (jeq, 0, 1, nr_connect),
        (ret, 0, 0, RET_USER_NOTIF),   # connect: ask the supervisor
        (jeq, 0, 1, nr_uring),
        (ret, 0, 0, eperm),            # io_uring would connect without a syscall seccomp sees
        (ret, 0, 0, RET_ALLOW),
    ]
    arr = (_SockFilter * len(prog))(*[_SockFilter(*p) for p in prog])
    return _SockFprog(len(prog), ctypes.cast(arr, ctypes.POINTER(_SockFilter))), arr


class Installer:
    """Everything the forked child needs, prepared before fork (no allocation-heavy work after it)."""

    def __init__(self) -> None:
        self.prog, self._keep = _program()
        self.nr_seccomp = _ARCH[platform.machine()][3]

    def no_new_privs(self) -> None:
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")

    def install(self) -> int:
        """Install the filter on the calling process; returns the listener fd. Raises OSError."""
        fd = _libc.syscall(ctypes.c_long(self.nr_seccomp), ctypes.c_uint(SET_MODE_FILTER),
                           ctypes.c_uint(FLAG_NEW_LISTENER), ctypes.byref(self.prog))
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"seccomp(SET_MODE_FILTER, NEW_LISTENER): {os.strerror(ctypes.get_errno())}")
        return int(fd)


@dataclass(frozen=True)
class Attempt:
    """One connect(2) a step made: ``family`` unix|inet|inet6|other, ``target`` as printed, ``allowed``."""

    family: str
    target: str
    allowed: bool
    quiet: bool = False  # denied but not a reach worth reporting (glibc's name-service cache probes)


def parse_sockaddr(raw: bytes, cwd: str) -> tuple[str, str, tuple[str, int] | str | None]:
    """(family, printable target, key): key is (ip, port) for inet, an absolute path for unix, None else."""
    if len(raw) < 2:
        return "other", "(no address)", None
    fam = struct.unpack_from("=H", raw)[0]
    if fam == socket.AF_UNIX:
        path = raw[2:]
        if not path:
            return "unix", "(unnamed unix socket)", None
        if path[0] == 0:
            name = path[1:].split(b"\0", 1)[0].decode(errors="replace")
            return "unix", f"abstract unix socket @{name}", None
        p = path.split(b"\0", 1)[0].decode(errors="replace")
        return "unix", os.path.normpath(os.path.join(cwd, p)), os.path.normpath(os.path.join(cwd, p))
    if fam == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from("!H", raw, 2)[0]
        ip = socket.inet_ntop(socket.AF_INET, raw[4:8])
        return "inet", f"{ip}:{port}", (ip, port)
    if fam == socket.AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from("!H", raw, 2)[0]
        ip = socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if ip.startswith("::ffff:") and "." in ip:
            ip = ip[7:]
        return "inet6", f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}", (ip, port)
    if fam == socket.AF_UNSPEC:
        return "unspec", "(disconnect)", None
    if fam == socket.AF_NETLINK:
        return "netlink", "(kernel netlink)", None
    return "other", f"address family {fam}", None


class Supervisor:
    """Answers the step's connect(2) calls on ``listener_fd`` in a thread until stopped.

    ``judge(family, target, key)`` returns (allowed, quiet). Attempts are kept in ``attempts``.
    """

    def __init__(self, listener_fd: int, judge: Callable[[str, str, object], tuple[bool, bool]]) -> None:
        self.fd = listener_fd
        self.judge = judge
        self.attempts: list[Attempt] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rd-sandbox-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> list[Attempt]:
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        return self.attempts

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self._stop.is_set():
            try:
                events = poller.poll(100)
            except OSError:
                return
            for _, ev in events:
                if ev & select.POLLIN:
                    self._one()
                elif ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    return  # no process holds the filter any more

    def _one(self) -> None:
        buf = bytearray(_NOTIF.size)
        try:
            fcntl.ioctl(self.fd, NOTIF_RECV, buf, True)
        except OSError:
            return  # the caller was interrupted or died before we read it
        nid, pid, _flags, _nr, _arch, _ip, *args = _NOTIF.unpack(buf)
        allowed, fam, target, quiet = False, "other", "(unreadable address)", False
        try:
            length = max(0, min(int(args[2]), 128))
            with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
                mem.seek(args[1])
                raw = mem.read(length)
            cwd = os.readlink(f"/proc/{pid}/cwd")
            fam, target, key = parse_sockaddr(raw, cwd)
            allowed, quiet = self.judge(fam, target, key)
        except (OSError, ValueError, OverflowError):
            pass
        try:
            fcntl.ioctl(self.fd, NOTIF_ID_VALID, struct.pack("=Q", nid))
        except OSError:
            return  # the caller is gone; its answer no longer matters
        resp = _RESP.pack(nid, 0, 0, FLAG_CONTINUE) if allowed else _RESP.pack(nid, 0, -errno.EACCES, 0)
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.fd, NOTIF_SEND, bytearray(resp), True)
        if fam not in ("unspec", "netlink"):
            self.attempts.append(Attempt(fam, target, allowed, quiet))
