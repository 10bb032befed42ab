"""Reading the report.json files under an S3 prefix (`fleet report s3://bucket/prefix/`): a paginated listing, then
bounded reads; boto3's standard credential chain, AWS_ENDPOINT_URL honoured by boto3 itself."""
from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.errors import CollectionError, InputError
from auditor.state.inputs import max_input_size

LOG = logging.getLogger(__name__)
REPORT_NAME = "report.json"
_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?$")
_READERS = 8  # concurrent GETs: 200 reports at one S3 round trip each would otherwise take seconds


@dataclass(frozen=True)
class S3Prefix:
    bucket: str
    prefix: str  # "" or ending in "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class S3Report:
    """One report.json under the prefix: its key, its folder relative to the prefix, its bytes (or why not)."""

    key: str
    folder: str  # "" when the report sits at the prefix itself
    data: bytes | None
    problem: str = ""
    siblings: tuple[str, ...] = ()  # the other file names in its folder (report.html, report.md...)


def parse_prefix(text: str) -> S3Prefix:
    m = _URL.match(text.strip())
    if not m or ".." in m.group(1):
        raise InputError(text, "expected s3://BUCKET/PREFIX/ with a valid bucket name")
    prefix = (m.group(2) or "").lstrip("/")
    return S3Prefix(m.group(1), prefix if not prefix or prefix.endswith("/") else prefix + "/")


def read_reports(where: S3Prefix, client: Any = None) -> tuple[list[S3Report], str]:
    """Every report.json under the prefix (recursively), read; and the bucket's region (for object URLs)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3 = client or boto3.client("s3")
        folders: dict[str, list[str]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.prefix):
            for obj in page.get("Contents") or []:
                rel = str(obj["Key"])[len(where.prefix):]
                folder, _, name = rel.rpartition("/")
                folders.setdefault(folder, []).append(name)
        keys = [(f, where.prefix + (f + "/" if f else "") + REPORT_NAME) for f, names in sorted(folders.items())
                if REPORT_NAME in names]
        with ThreadPoolExecutor(_READERS) as pool:
            reports = list(pool.map(lambda fk: _read(s3, where.bucket, fk[1], fk[0], folders[fk[0]]), keys))
        return reports, _region(s3, where.bucket)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "error"))
        if code in ("NoSuchBucket", "404"):
            raise InputError(where, "no such bucket") from None
        raise CollectionError(f"{where}: {code}: {err.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CollectionError(f"{where}: {exc}") from None


def _read(s3: Any, bucket: str, key: str, folder: str, names: list[str]) -> S3Report:
    """One object, never more than the input bound: a report that big is refused, not read."""
    from botocore.exceptions import ClientError

    limit = max_input_size()
    siblings = tuple(sorted(n for n in names if n != REPORT_NAME))
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
        body = obj["Body"]
        if int(obj.get("ContentLength") or 0) > limit:
            body.close()
            return S3Report(key, folder, None, f"is larger than {limit} bytes", siblings)
        data = body.read(limit + 1)
        body.close()
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return S3Report(key, folder, None, f"cannot read: {err.get('Code', 'error')}: {err.get('Message', exc)}",
                        siblings)
    if len(data) > limit:
        return S3Report(key, folder, None, f"is larger than {limit} bytes", siblings)
    return S3Report(key, folder, bytes(data), "", siblings)


def _region(s3: Any, bucket: str) -> str:
    from botocore.exceptions import ClientError

    try:
        loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        return {"EU": "eu-west-1"}.get(loc, loc) if loc else "us-east-1"
    except ClientError:
        return str(getattr(getattr(s3, "meta", None), "region_name", "") or "")
