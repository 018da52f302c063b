"""seeds: schemas, migrations and deterministic data for the drilled systems."""

from .summary import SeedSummary

__all__ = ["SeedSummary"]
