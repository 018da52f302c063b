"""Physical backups and point-in-time recovery drills (issue 17).

- ``server``: the drill's own PostgreSQL servers (an archiving primary, the restored copy) as the
  unprivileged server user, with an ``aws`` shim that user can run for archive/restore_command.
- ``ledger``: the write ledger (one small transaction every few ms, txid + commit time).
- ``wal``: WAL segment names, the S3 archive listing, a pg_waldump read of the archive.
- ``recovery``: recovery targets and what the restored server's log says recovery did.
- ``upgrade``: ``pg_upgrade --check`` of the restored base backup into the next major.
- ``matrix``: ``upgrade_matrix``, the run's version matrix row of each drill's ``upgrade_check``.
- ``drill``: ``run_physical`` (what the engine runs for a DrillSpec with ``physical``), ``PitrOptions``
  (``options_from_config``: ``restore-drill run --recovery-target``), ``pitr_checks`` (the physical checks,
  then the check registry's plan over the restored database, ``CheckContext.physical``).

The checks live in ``restore_drill.checks`` (recovery, wal_archive, base_backup, storage_pitr,
upgrade_check, backup_chain), registered in ``checks.registry.PHYSICAL_ONLY``; the disaster is
``restore_drill.disasters.bad_statement``.
"""
