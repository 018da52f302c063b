"""The run report model and its writers; the public entry points are in restore_drill.reports.writers.

Kept import-free so that importing a submodule (e.g. allure_bridge) loads nothing it does not need."""
