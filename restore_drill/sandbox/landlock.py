"""Linux Landlock through raw syscalls (ctypes): the filesystem, TCP-connect and scope rules of a step.

Landlock (Documentation/userspace-api/landlock.rst in the kernel tree) lets an unprivileged process
restrict itself and every process it later starts; the rules survive exec and cannot be lifted.
What each ABI adds (same document, "Previous limitations"): ABI 1 filesystem, 2 REFER, 3 TRUNCATE,
4 TCP bind/connect by port, 5 IOCTL_DEV, 6 scoping of abstract unix sockets and signals, 7 audit flags.
The PyPI ``landlock`` package exists only as a 1.0.0.dev pre-release, so the four syscalls are called here.

Limits (kernel behaviour, same document): TCP rules match the port only, never the address; UDP and
other protocols are not restricted; connecting to a pathname unix socket is not a filesystem access
Landlock can deny (ABI <= 7). restore-drill covers those with seccomp (``seccomp.py``).
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Iterable
from dataclasses import dataclass

# Syscall numbers are the same on every architecture for these (they were added after the table unification).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
FS_MAKE_SYM, FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 12, 1 << 13, 1 << 14, 1 << 15
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # the rights a file rule may hold
READ_EXEC = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled (ENOSYS/EOPNOTSUPP)."""
    if platform.system() != "Linux":
        return 0
    v = _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return int(v) if v > 0 else 0


def all_fs_rights(abi: int) -> int:
    """Every filesystem access right the given ABI knows (so none is left unhandled)."""
    return _FS_BY_ABI.get(abi, (1 << 16) - 1)


@dataclass(frozen=True)
class PathRule:
    """Allow ``access`` (FS_* bits) beneath ``path``; a path that does not exist is skipped."""

    path: str
    access: int


def _err(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"landlock {what}: {os.strerror(e)}")


def build_ruleset(paths: Iterable[PathRule], tcp_ports: Iterable[int], abi: int) -> int:
    """Create a ruleset fd (the caller closes it): paths as given, TCP connect only to ``tcp_ports``.

    Raises OSError naming the syscall that failed. Needs ``abi >= 4`` for the TCP rules; with
    ``abi >= 6`` abstract unix sockets and signals are scoped to the step's own processes.
    """
    fs = all_fs_rights(abi)
    attr = _RulesetAttr(fs, NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    fd = int(_syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if fd < 0:
        raise _err("create_ruleset")
    try:
        for rule in paths:
            try:
                pfd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                access = rule.access & fs
                if not os.path.isdir(rule.path):
                    access &= FILE_RIGHTS
                pb = _PathBeneath(access, pfd)
                if _syscall(SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(pb),
                            ctypes.c_uint32(0)) < 0:
                    raise _err(f"add_rule {rule.path}")
            finally:
                os.close(pfd)
        if abi >= 4:
            for port in sorted(set(tcp_ports)):
                np_ = _NetPort(NET_CONNECT_TCP, port)
                if _syscall(SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(RULE_NET_PORT), ctypes.byref(np_),
                            ctypes.c_uint32(0)) < 0:
                    raise _err(f"add_rule tcp port {port}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict_self(ruleset_fd: int) -> None:
    """Enforce the ruleset on the calling thread (call after PR_SET_NO_NEW_PRIVS; safe after fork)."""
    if _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(0)) < 0:
        raise _err("restrict_self")
