"""A real headless browser for report tests: Debian's chromium, installed once by the test set-up.

CI runs as root on a fresh Debian machine where chromium may be missing; two xdist workers may ask at the
same moment, so installation happens under a file lock (apt timeouts sum below pytest-timeout's 600 s)
and a failed attempt is remembered for an hour, so the other worker skips with the same reason instead
of running apt a second time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from restore_drill.errors import StepTimeout
from restore_drill.procs import run

CHROMIUM = Path("/usr/bin/chromium")
_STATE_DIR = Path(tempfile.gettempdir())
_LOCK = _STATE_DIR / "restore-drill-chromium-install.lock"
_FAILED = _STATE_DIR / "restore-drill-chromium-install.failed"
_FAILED_TTL_S = 3600.0

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1200,1600",
)


@dataclass(frozen=True)
class Browser:
    path: Path

    def screenshot(self, page: Path, png: Path, profile: Path, timeout_s: float = 60.0) -> Path:
        """Render ``page`` and write a PNG; returns the PNG path."""
        res = run([str(self.path), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                   page.resolve().as_uri()], env=_env(profile), timeout_s=timeout_s)
        if res.exit_code != 0 or not png.exists():
            raise AssertionError(f"chromium --screenshot failed ({res.exit_code}): {res.stderr[-2000:]}")
        return png

    def dump_dom(self, page: Path, profile: Path, timeout_s: float = 60.0) -> str:
        """The DOM after the page rendered (what a reader sees), as serialized HTML."""
        res = run([str(self.path), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                   page.resolve().as_uri()], env=_env(profile), timeout_s=timeout_s)
        if res.exit_code != 0 or "<html" not in res.stdout:
            raise AssertionError(f"chromium --dump-dom failed ({res.exit_code}): {res.stderr[-2000:]}")
        return res.stdout


def _env(profile: Path) -> dict[str, str]:
    # Explicit, minimal env: HOME inside the throwaway profile so chromium writes nothing elsewhere.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(profile), "LANG": "C.UTF-8"}


@contextmanager
def _locked() -> Iterator[None]:
    with open(_LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _recent_failure() -> str | None:
    try:
        if time.time() - _FAILED.stat().st_mtime < _FAILED_TTL_S:
            return _FAILED.read_text().strip() or "an earlier install attempt failed"
    except FileNotFoundError:
        pass
    return None


def ensure_chromium() -> tuple[Browser | None, str]:
    """(Browser, "") when chromium is usable, else (None, reason to skip)."""
    if CHROMIUM.exists():
        return Browser(CHROMIUM), ""
    if os.geteuid() != 0:
        return None, f"{CHROMIUM} missing and not root: install it with `apt-get install chromium`"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, f"{CHROMIUM} missing and no apt-get to install it"
    with _locked():
        if CHROMIUM.exists():  # the other worker installed it while we waited
            return Browser(CHROMIUM), ""
        failed = _recent_failure()
        if failed:
            return None, failed
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
        for argv, timeout_s in (([apt, "update"], 240.0),
                                ([apt, "install", "-y", "chromium"], 300.0)):
            try:
                res = run(argv, env=env, timeout_s=timeout_s)
            except StepTimeout:
                reason = f"`{' '.join(argv)}` timed out after {timeout_s:.0f}s"
                _FAILED.write_text(reason)
                return None, reason
            if res.exit_code != 0:
                reason = f"`{' '.join(argv)}` exited {res.exit_code}: {res.stderr.strip()[-300:]}"
                _FAILED.write_text(reason)
                return None, reason
        if not CHROMIUM.exists():
            reason = f"apt-get install chromium succeeded but {CHROMIUM} is still missing"
            _FAILED.write_text(reason)
            return None, reason
        return Browser(CHROMIUM), ""


def png_size(png: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk."""
    data = png.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise AssertionError(f"{png} is not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def png_pixel(png: Path, x: int, y: int) -> tuple[int, int, int]:
    """RGB of one pixel of an 8-bit, non-interlaced RGB/RGBA PNG (what chromium writes).

    Decodes only rows 0..y: each row's filter needs only the row above, so sampling the top of a
    1200x1600 screenshot stays fast without an imaging library.
    """
    import struct
    import zlib

    data = png.read_bytes()
    width, _height = png_size(png)
    depth, colour, interlace = data[24], data[25], data[28]
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise AssertionError(f"unsupported PNG layout depth={depth} colour={colour} interlace={interlace}")
    bpp = 3 if colour == 2 else 4
    idat, pos = bytearray(), 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    stride = width * bpp
    raw = zlib.decompressobj().decompress(bytes(idat), (y + 1) * (stride + 1))
    prev = bytearray(stride)
    row = bytearray(stride)
    for r in range(y + 1):
        ftype, line = raw[r * (stride + 1)], raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)]
        row = bytearray(stride)
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = b
            elif ftype == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[i] = (line[i] + pred) & 0xFF
        prev = row
    return row[x * bpp], row[x * bpp + 1], row[x * bpp + 2]
