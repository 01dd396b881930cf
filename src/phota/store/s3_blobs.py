"""Blobs in an S3 bucket (AWS S3 or any S3-speaking server), behind the BlobStore interface.

Every API process and worker of a deployment sees the same objects, so nothing depends on a
process's local disk. Credentials and region come from boto3's own chain (``AWS_*`` variables,
shared config, instance role); phota reads none of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from phota.errors import NotFound
from phota.store.blob_url import S3Location
from phota.store.blobs import check_key

# DeleteObjects takes at most this many keys a call.
_DELETE_BATCH = 1000


class S3BlobStore:
    def __init__(self, location: S3Location, *, client: Any = None, max_connections: int = 32) -> None:
        self.bucket = location.bucket
        self.prefix = location.prefix
        self._client = client or boto3.session.Session().client(
            "s3",
            endpoint_url=location.endpoint_url,
            config=Config(
                # SigV4 everywhere: presigned URLs are then checked by the server, not just carried.
                signature_version="s3v4",
                s3={"addressing_style": location.addressing_style},
                retries={"max_attempts": 5, "mode": "standard"},
                # Outputs are stored from several threads per process; the default pool of 10 would
                # make them queue for connections.
                max_pool_connections=max_connections,
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        # One PUT: readers see the whole object or none (S3 has no partial objects).
        self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise NotFound() from None
            raise
        body: bytes = obj["Body"].read()
        return body

    def _under(self, prefix: str) -> list[str]:
        """Full object keys equal to ``prefix`` or below ``prefix/`` (all of them for "")."""
        return [key for key, _ in self._under_dated(prefix)]

    def _under_dated(self, prefix: str) -> list[tuple[str, datetime]]:
        """``_under`` with each object's LastModified."""
        if not prefix:
            base, keep = self.prefix, (lambda k: True)
        else:
            base = self._key(prefix.rstrip("/"))
            keep = lambda k: k == base or k.startswith(base + "/")  # noqa: E731
        found: list[tuple[str, datetime]] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            found.extend((obj["Key"], obj["LastModified"]) for obj in page.get("Contents", []) if keep(obj["Key"]))
        return found

    def delete_prefix(self, prefix: str) -> None:
        keys = self._under(prefix)
        for i in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[i : i + _DELETE_BATCH]]
            result = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            errors = result.get("Errors") or []
            if errors:
                raise RuntimeError(f"S3 refused to delete {len(errors)} object(s), e.g. {errors[0]}")

    def list_keys(self, prefix: str = "") -> list[str]:
        return sorted(k.removeprefix(self.prefix) for k in self._under(prefix))

    def list_dated(self, prefix: str = "") -> list[tuple[str, datetime]]:
        return sorted((k.removeprefix(self.prefix), when.astimezone(UTC)) for k, when in self._under_dated(prefix))

    def presigned_get(self, key: str, ttl_s: int, content_type: str) -> str | None:
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key), "ResponseContentType": content_type},
            ExpiresIn=ttl_s,
        )
        return url
