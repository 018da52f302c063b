"""Event generation in a child process, piped into the parent's COPY (issue 19).

In one process the generator and the COPY take turns: ``copy.write`` returns only once a chunk is in the
socket, whose buffer holds a fraction of a chunk, so the server idles while the next chunk is generated and
the generator idles while the server parses (a writer thread did not help: it needs the GIL the generator
holds for every partial send). Here a child process generates on one core while the server parses on the
other; the parent only relays bytes from the child's stdout to the COPY. The child runs the very same
:class:`~.generate.EventGenerator` with the same arguments, so the rows are byte-identical to the in-process
path (tested). It writes the dead-letter and projection COPY text to files in a private temporary folder
the parent loads after the events, and its peak RSS to ``done.json``.

Run by :func:`generated_in_child`; the command line (``python -m restore_drill.seeds.arqonbus.child SEED
STREAMS EVENTS FOLDER``) is internal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from restore_drill.errors import HarnessFault

from .generate import EventGenerator

_DONE, _DLQ, _PROJECTION, _STDERR = "done.json", "dlq.copy", "projection.copy", "stderr.txt"
_READ = 1 << 20


class ChildRun:
    """A running child generator: :meth:`events` relays its COPY text; after the events, :meth:`dlq_chunks`
    and :meth:`projection_chunks` read its files, and ``dlq_rows`` / ``peak_rss_kb`` hold what it reported.
    Raises HarnessFault (with the child's last stderr lines) when the child fails."""

    def __init__(self, proc: subprocess.Popen[bytes], folder: Path) -> None:
        self.proc = proc
        self.folder = folder
        self.dlq_rows = 0
        self.peak_rss_kb = 0

    def events(self) -> Iterator[memoryview]:
        """The events' binary COPY tuples as the child writes them, in reads of up to 1 MiB into one reused
        buffer (each view is valid until the next is taken; COPY copies it into libpq's buffer first); then
        waits for the child."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = bytearray(_READ)
        view = memoryview(buf)
        while n := os.readv(fd, [buf]):
            yield view[:n]
        if self.proc.wait() != 0:
            err = (self.folder / _STDERR).read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise HarnessFault(f"the seed generator process exited with status {self.proc.returncode}: "
                               f"{' | '.join(err[-3:]) or 'no output'}")
        done = json.loads((self.folder / _DONE).read_text(encoding="utf-8"))
        self.dlq_rows, self.peak_rss_kb = int(done["dlq_rows"]), int(done["peak_rss_kb"])

    def _file(self, name: str) -> Iterator[bytes]:
        if self.proc.returncode is None:
            raise RuntimeError("consume events() first")
        with open(self.folder / name, "rb") as f:
            while block := f.read(_READ):
                yield block

    def dlq_chunks(self) -> Iterator[bytes]:
        """COPY text of the dead-letter rows (DLQ_COLUMNS)."""
        return self._file(_DLQ)

    def projection_chunks(self) -> Iterator[bytes]:
        """COPY text of the projections (PROJECTION_COLUMNS)."""
        return self._file(_PROJECTION)


@contextmanager
def generated_in_child(seed: int, n_streams: int, n_events: int) -> Iterator[ChildRun]:
    """Start ``EventGenerator(seed, n_streams, n_events)`` in a child process (this interpreter); yields its
    :class:`ChildRun`. On leaving, a child still running (the load failed) is killed and waited for, and the
    temporary folder removed."""
    with tempfile.TemporaryDirectory(prefix="rd-seed-") as tmp:
        folder = Path(tmp)
        with open(folder / _STDERR, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(seed), str(n_streams), str(n_events), str(folder)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        try:
            assert proc.stdout is not None
            # A 1 MiB pipe (Linux default 64 KiB; max /proc/sys/fs/pipe-max-size): fewer wake-ups per chunk.
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _READ)
            yield ChildRun(proc, folder)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _main(argv: list[str]) -> None:
    seed, n_streams, n_events, folder = int(argv[0]), int(argv[1]), int(argv[2]), Path(argv[3])
    out = sys.stdout.buffer
    with EventGenerator(seed, n_streams, n_events) as gen:
        for chunk in gen.event_chunks():
            out.write(chunk)
        out.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())  # closes the pipe: EOF for the parent, which loads the files next
        os.close(devnull)
        with open(folder / _DLQ, "wb") as f:
            for block in gen.dlq_chunks():
                f.write(block)
        with open(folder / _PROJECTION, "wb") as f:
            for block in gen.projection_chunks():
                f.write(block)
        dlq_rows = gen.dlq_count
    with open("/proc/self/status", encoding="ascii") as f:
        peak = next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), 0)
    (folder / _DONE).write_text(json.dumps({"dlq_rows": dlq_rows, "peak_rss_kb": peak}), encoding="utf-8")


if __name__ == "__main__":
    _main(sys.argv[1:])
