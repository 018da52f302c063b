"""One exception tree. Each error's message names what was tried and the flag that fixes it."""

from __future__ import annotations


class DrillError(Exception):
    """Base of every error restore-drill raises on purpose."""

    #: process exit status the CLI uses for this error (DESIGN: 1 failed, 2 errored)
    exit_code = 2
    #: report status this error maps to
    status = "errored"


class BadInput(DrillError):
    """The user's input (flag, file, name) is wrong; the message says what to fix."""


class InfraUnavailable(DrillError):
    """Disposable infrastructure could not be started or reached."""


class DestructiveRefused(BadInput):
    """A destructive step was aimed at a target the harness did not create."""


class ProcedureFailed(DrillError):
    """A backup/restore procedure step failed: the drill failed, the harness did not."""

    exit_code = 1
    status = "failed"


class StepTimeout(ProcedureFailed):
    """A procedure step ran past its timeout and was killed."""


class StorageUnreadable(ProcedureFailed):
    """Objects the backup holds cannot be read back as they are (a cold storage class such as GLACIER or
    DEEP_ARCHIVE that needs a restore request first, access denied): the backup failed the drill; the
    message names each object, the cause and what an operator must do."""


class HarnessFault(DrillError):
    """A bug or unexpected state inside restore-drill itself."""
