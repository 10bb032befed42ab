"""`--upload s3://bucket/prefix`: copy the written reports to S3 and return their object URLs."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor.errors import AuditorError, ConfigError, ExitCode
from auditor.report.text import one_line

LOG = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".gz": "application/gzip",
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class UploadError(AuditorError):
    """The reports are written locally, but copying them to S3 failed (AWS unreachable or denied)."""

    exit_code = ExitCode.COLLECTION


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str  # "" or ends without a slash

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def parse_s3_url(text: str) -> S3Target:
    """'s3://bucket/some/prefix' -> S3Target; anything else is a usage error naming the flag."""
    m = re.match(r"^s3://([^/]+)(?:/(.*))?$", text.strip())
    if not m or not _BUCKET.match(m.group(1)) or ".." in m.group(1):
        raise ConfigError(f"--upload {text!r}: expected s3://BUCKET[/PREFIX] with a valid bucket name")
    return S3Target(bucket=m.group(1), prefix=(m.group(2) or "").strip("/"))


def object_url(bucket: str, region: str, key: str) -> str:
    """The object's HTTPS URL (virtual-hosted style; path style when the bucket name has dots)."""
    host = "s3.amazonaws.com" if region in ("", "us-east-1") else f"s3.{region}.amazonaws.com"
    path = quote(key, safe="/~")
    if "." in bucket:  # a dotted bucket breaks the *.s3 wildcard certificate
        return f"https://{host}/{bucket}/{path}"
    return f"https://{bucket}.{host}/{path}"


def upload_reports(paths: list[Path], url: str, client: Any = None) -> list[str]:
    """Upload each file under the prefix with its content type; return the object URLs in order."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    target = parse_s3_url(url)
    try:
        s3 = client or boto3.client("s3")
        region = _bucket_region(s3, target.bucket)
        urls = []
        for p in paths:
            key = target.key(p.name)
            ctype = CONTENT_TYPES.get(p.suffix, "application/octet-stream")
            LOG.info("uploading %s to s3://%s/%s", p, target.bucket, key)
            with p.open("rb") as body:
                s3.put_object(Bucket=target.bucket, Key=key, Body=body, ContentType=ctype)
            urls.append(object_url(target.bucket, region, key))
        return urls
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise UploadError(f"upload to {target} failed: {_one_line(err.get('Code', 'error'))}: "
                          f"{_one_line(err.get('Message', exc))} (the reports are written locally)") from None
    except (BotoCoreError, OSError) as exc:
        raise UploadError(f"upload to {target} failed: {_one_line(exc)} (the reports are written locally)") from None
    except Exception as exc:  # noqa: BLE001 - whatever the endpoint answers (a proxy's HTML page): one line, exit 3
        raise UploadError(f"upload to {target} failed: {type(exc).__name__}: {_one_line(exc)} "
                          "(the reports are written locally)") from None


def _one_line(exc: object, limit: int = 300) -> str:
    """The first line of an error, bounded, its unseen characters shown: an endpoint's answer can be a whole page."""
    text = one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    return text if len(text) <= limit else text[:limit] + "…"


def _bucket_region(s3: Any, bucket: str) -> str:
    """The bucket's own region for its URL; the client's region when we may not ask."""
    from botocore.exceptions import ClientError

    try:
        loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        return {"EU": "eu-west-1"}.get(loc, loc) if loc else "us-east-1"
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucket",):
            raise
        return str(getattr(getattr(s3, "meta", None), "region_name", "") or "")
