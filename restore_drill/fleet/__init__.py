"""Fleet drills on engines a platform team already runs (CI matrices, Kubernetes Indexed Jobs).

restore-drill schedules nothing itself: ``plan`` turns an inventory (system definitions x Postgres
versions, backups under a folder or ``s3://`` prefix) into independent jobs with content-derived ids;
``--shard K/N`` runs one deterministic slice; run folders go to a shared ``s3://`` prefix; ``report
merge`` combines them into one fleet report with a freshness verdict.

Modules: ``plan`` (jobs and the plan file), ``inventory`` (finding backups), ``shards`` (K/N slices),
``destination`` (S3 report destination and source), ``runner`` (run a slice as run folders),
``merge`` (the fleet report), ``freshness`` (stale backups and drills), ``fleet_writers`` (its pages).
"""
