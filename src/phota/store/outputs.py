"""Stored outputs behind signed, expiring download URLs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from phota.clock import Clock
from phota.errors import NotFound
from phota.imaging.encode import CONTENT_TYPES
from phota.store.blobs import BlobStore
from phota.store.db import Database
from phota.store.models import Output
from phota.store.signing import UrlSigner

DOWNLOAD_PATH = "/v1/phota/files"


@dataclass(frozen=True)
class Download:
    """A verified download: either a short-lived URL of the object store, or the bytes."""

    fmt: str
    redirect_url: str | None = None
    data: bytes | None = None


class OutputStore:
    def __init__(
        self, db: Database, blobs: BlobStore, signer: UrlSigner, clock: Clock, *, presign_ttl_s: int | None = None
    ) -> None:
        """``presign_ttl_s``: redirect downloads to the store's own URL for this long; None streams the bytes."""
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.clock = clock
        self.presign_ttl_s = presign_ttl_s

    def save(self, account_id: str, data: bytes, fmt: str, public_base_url: str, *, mode: str) -> str:
        """Store one output and return its absolute signed URL."""
        output_id = uuid.uuid4().hex
        key = f"outputs/{account_id}/{output_id}.{fmt}"
        self.blobs.put(key, data)
        with self.db.session() as s:
            s.add(Output(id=output_id, account_id=account_id, blob_key=key, fmt=fmt, mode=mode))
        name = f"{output_id}.{fmt}"
        return f"{public_base_url.rstrip('/')}{DOWNLOAD_PATH}/{name}?{self.signer.query(name, self.clock.timestamp())}"

    def open(self, name: str, expires: str | None, signature: str | None) -> Download:
        """Where to get a signed download; raises 403 on a bad link."""
        now = self.clock.timestamp()
        self.signer.verify(name, expires, signature, now)
        output_id, _, fmt = name.partition(".")
        with self.db.session() as s:
            row = s.scalar(select(Output).where(Output.id == output_id))
        if row is None or row.fmt != fmt:
            raise NotFound()
        if self.presign_ttl_s is not None:
            # Never outlive phota's own link (verify() checked ``expires`` is a number).
            ttl = max(1, min(self.presign_ttl_s, int(expires or 0) - int(now)))
            url = self.blobs.presigned_get(row.blob_key, ttl, CONTENT_TYPES[row.fmt])
            if url is not None:
                return Download(fmt=row.fmt, redirect_url=url)
        return Download(fmt=row.fmt, data=self.blobs.get(row.blob_key))
