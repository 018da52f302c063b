"""S3 (or S3-compatible) as the fleet's shared place: run folders are uploaded there by each shard and
downloaded from there by ``report merge``, so pods and CI runners need no shared disk.

Credentials come from the usual AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, an instance or pod role; boto3's credential provider chain:
https://boto3.amazonaws.com/v1/documentation/api/latest/guide/credentials.html). The endpoint is the
``--endpoint-url`` flag, else ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, else AWS. No credential is
ever put in a message: errors name the bucket, the key and the S3 error code only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from restore_drill.errors import BadInput, InfraUnavailable
from restore_drill.objectstore import S3Client, list_objects

# botocore DEBUG records carry request headers (the signature and key id): keep them out of logs.
if logging.getLogger("botocore").level < logging.INFO:
    logging.getLogger("botocore").setLevel(logging.INFO)


@dataclass(frozen=True)
class S3Url:
    """``s3://bucket/prefix`` split; ``prefix`` has no leading or trailing slash ("" for the bucket root)."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` below the prefix, e.g. ``key("run", "report.json")``."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def is_s3(value: object) -> bool:
    """True for ``s3://...``, also after click turned it into a Path (``s3:/bucket/prefix``)."""
    return str(value).startswith("s3:/")


def parse_s3(value: object) -> S3Url:
    """``s3://bucket/prefix`` (or its Path form ``s3:/bucket/prefix``) -> S3Url. Raises BadInput."""
    text = str(value)
    rest = text[5:] if text.startswith("s3://") else text[4:] if text.startswith("s3:/") else None
    if rest is None:
        raise BadInput(f"{text!r} is not an s3:// URL; use s3://bucket/prefix")
    bucket, _, prefix = rest.partition("/")
    if not bucket or not all(c.isalnum() or c in "-._" for c in bucket):
        raise BadInput(f"{text!r} has no valid bucket name; use s3://bucket/prefix (bucket: letters, digits, - . _)")
    return S3Url(bucket, prefix.strip("/"))


def endpoint_url(flag: str | None) -> str | None:
    """The endpoint to use: the flag, else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else None (AWS)."""
    return flag or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(endpoint: str | None = None) -> S3Client:
    """A boto3 S3 client on the default credential chain. Raises BadInput when no credentials are found
    (naming the variables to set, never their values)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    if session.get_credentials() is None:
        raise BadInput("no AWS credentials for the s3:// report location: set AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a pod/instance role)")
    return session.client("s3", endpoint_url=endpoint_url(endpoint),
                          region_name=session.region_name or os.environ.get("AWS_REGION") or "us-east-1",
                          config=Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10,
                                        read_timeout=120, s3={"addressing_style": "path"}))


def _why(e: BaseException) -> str:
    """An S3 failure as code + message, without request headers (ClientError's str holds none)."""
    resp = getattr(e, "response", None)
    if isinstance(resp, dict) and "Error" in resp:
        err = resp["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(e).__name__}: {e}"


def upload_dir(local: Path, dest: S3Url, endpoint: str | None = None) -> list[str]:
    """Upload every file under ``local`` to ``dest/<local's name>/...``; returns the keys written.
    Raises InfraUnavailable naming the destination and the S3 error when any upload fails."""
    s3 = client(endpoint)
    keys: list[str] = []
    try:
        for p in sorted(local.rglob("*")):
            if p.is_file() and not p.is_symlink():
                key = dest.key(local.name, p.relative_to(local).as_posix())
                s3.upload_file(str(p), dest.bucket, key)
                keys.append(key)
    except Exception as e:  # botocore raises many types; every one means the upload failed
        raise InfraUnavailable(f"could not upload the run folder {local} to {dest}/{local.name} ({_why(e)}); "
                               f"it is kept at {local}: check the bucket, the credentials and --endpoint-url") from None
    return keys


def list_keys(src: S3Url, endpoint: str | None = None) -> Iterator[dict[str, Any]]:
    """Every object under ``src`` as boto3's listing dicts (Key, Size, LastModified). Raises
    InfraUnavailable when the bucket cannot be listed."""
    s3 = client(endpoint)
    try:
        for o in list_objects(s3, src.bucket, src.prefix):
            yield {"Key": o.key, "Size": o.size, "LastModified": o.last_modified}
    except Exception as e:
        raise InfraUnavailable(f"could not list {src} ({_why(e)}): check the bucket, the credentials and "
                               "--endpoint-url") from None


def download_runs(src: S3Url, into: Path, endpoint: str | None = None) -> list[Path]:
    """Download every run folder under ``src`` (a folder holding report.json) into ``into``; returns
    the local run folders, sorted. Raises InfraUnavailable on a listing or download failure."""
    objects = list(list_keys(src, endpoint))
    roots = sorted({o["Key"].rsplit("/", 1)[0] for o in objects if o["Key"].rsplit("/", 1)[-1] == "report.json"
                    and "/" in o["Key"]})
    roots = [r for r in roots if not any(r.startswith(other + "/") for other in roots)]  # work/ files
    s3 = client(endpoint)
    out: list[Path] = []
    for root in roots:
        local = into / root.replace("/", "__")
        for o in objects:
            if o["Key"].startswith(root + "/"):
                target = local / o["Key"][len(root) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    s3.download_file(src.bucket, o["Key"], str(target))
                except Exception as e:
                    raise InfraUnavailable(f"could not download s3://{src.bucket}/{o['Key']} ({_why(e)})") from None
        out.append(local)
    return out


def download_file(url: S3Url, into: Path, endpoint: str | None = None) -> Path:
    """Download the object ``url`` (bucket + key) to ``into/<its file name>``. Raises InfraUnavailable."""
    target = into / url.prefix.rsplit("/", 1)[-1]
    into.mkdir(parents=True, exist_ok=True)
    try:
        client(endpoint).download_file(url.bucket, url.prefix, str(target))
    except Exception as e:
        raise InfraUnavailable(f"could not download {url} ({_why(e)}): check the key, the credentials and "
                               "--endpoint-url") from None
    return target
