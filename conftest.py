"""Project conftest: wiring only. The restore-drill pytest plugin is registered by its entry point
(restore_drill.pytest_plugin); project tests share helpers from tests/helpers.py."""
