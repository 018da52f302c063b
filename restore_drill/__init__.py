"""restore-drill: prove a PostgreSQL + S3 backup really restores, before the day it must."""

from .errors import BadInput, DestructiveRefused, DrillError, HarnessFault, InfraUnavailable, ProcedureFailed

__version__ = "0.1.0"
__all__ = ["BadInput", "DestructiveRefused", "DrillError", "HarnessFault", "InfraUnavailable", "ProcedureFailed",
           "__version__"]
