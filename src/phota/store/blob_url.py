"""``PHOTA_BLOB_URL``: where blobs live, parsed into a typed location.

``file:///absolute/path`` keeps blobs in a directory; ``s3://BUCKET[/prefix][?endpoint_url=URL]``
keeps them in an S3 bucket (AWS, or any S3-speaking server given by ``endpoint_url``). Credentials
and region are not part of the URL: boto3 reads ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (or an instance role) itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# S3's bucket naming rules (3-63 chars, lower case, digits, dots and hyphens).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ADDRESSING_STYLES = ("path", "virtual", "auto")


@dataclass(frozen=True)
class FileLocation:
    root: Path


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    endpoint_url: str | None
    addressing_style: str  # "path" for a custom endpoint unless told otherwise


BlobLocation = FileLocation | S3Location


def parse_blob_url(url: str) -> BlobLocation:
    """The location a blob URL names; ValueError with the reason when it is malformed."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"PHOTA_BLOB_URL {url!r}: a file URL needs an absolute path (file:///srv/phota/blobs)")
        return FileLocation(Path(parts.path))
    if parts.scheme != "s3":
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: the scheme must be file:// or s3://")
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: {bucket!r} is not a valid S3 bucket name")
    prefix = parts.path.strip("/")
    if any(seg in ("", ".", "..") for seg in prefix.split("/")) and prefix:
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: the prefix must be plain path segments")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(query) - {"endpoint_url", "addressing_style"}
    if unknown:
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    endpoint = query.get("endpoint_url", [None])[-1] or None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: endpoint_url must be an http(s) URL")
    style = query.get("addressing_style", ["path" if endpoint else "auto"])[-1]
    if style not in ADDRESSING_STYLES:
        raise ValueError(f"PHOTA_BLOB_URL {url!r}: addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
    return S3Location(
        bucket=bucket, prefix=f"{prefix}/" if prefix else "", endpoint_url=endpoint, addressing_style=style
    )
