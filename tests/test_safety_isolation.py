"""The `aws` CLI and boto3 inside drills never read the user's AWS config or credentials.

The user's HOME gets a poisoned ~/.aws: its default and named profiles point every S3 call at a listener
the test owns (which counts connections) and resolve credentials through a `credential_process` that
would leave a marker file; AWS_PROFILE, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE in the
environment point at the poison too. A Pegasus drill (aws s3 sync/cp in the runbook, boto3 in seeding,
checks and the stand-in API) must pass with zero connections to the listener and no marker.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Listener
from tests.safety_support import (
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    run_cli,
)


def _poison(home: Path, port: int, marker: Path) -> dict[str, str]:
    aws = home / ".aws"
    aws.mkdir(parents=True)
    proc = home / "poison-credentials.sh"
    proc.write_text(f'#!/bin/sh\ntouch {marker}\necho \'{{"Version": 1, "AccessKeyId": "AKIAP", "SecretAccessKey": "p"}}\'\n')
    proc.chmod(0o755)
    profile = (f"region = eu-poison-1\nendpoint_url = http://127.0.0.1:{port}\ncredential_process = {proc}\n"
               f"s3 =\n  endpoint_url = http://127.0.0.1:{port}\n")
    (aws / "config").write_text(f"[default]\n{profile}\n[profile prod]\n{profile}")
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKIAPOISONDEFAULT\naws_secret_access_key = poison\n"
                                     "[prod]\naws_access_key_id = AKIAPOISONPROD\naws_secret_access_key = poison\n")
    return {"AWS_PROFILE": "prod", "AWS_DEFAULT_PROFILE": "prod", "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_DEFAULT_REGION": "eu-poison-1"}


def test_poisoned_user_aws_profile_is_never_used(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", tmp_path / "credential_process_ran"
    listener = Listener(accept_timeout_s=0.2)
    try:
        env = _poison(home, listener.port, marker)
        run = run_cli(["run", "pegasus-full-restore", "--quiet"], tmp_path, env_extra=env, home=home)
    finally:
        listener.close()
    assert run.returncode == 0, run.describe()
    d = run.report()["drills"][0]
    syncs = [s for s in d["steps"] if "aws s3" in s["command"] and s["exit_code"] == 0]
    assert len(syncs) >= 2, "the runbook's aws s3 commands ran (backup sync and restore)"
    assert listener.connections == 0
    assert not marker.exists()
    assert "eu-poison-1" not in run.report_dir.joinpath(run.run_dir().name, "report.json").read_text()
    assert run.leftover_processes() == [] and run.leftover_tmp() == []
