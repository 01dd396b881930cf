"""Stored outputs behind signed, expiring download URLs."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from phota.clock import Clock
from phota.errors import NotFound
from phota.store.blobs import BlobStore
from phota.store.db import Database
from phota.store.models import Output
from phota.store.signing import UrlSigner

DOWNLOAD_PATH = "/v1/phota/files"


class OutputStore:
    def __init__(self, db: Database, blobs: BlobStore, signer: UrlSigner, clock: Clock) -> None:
        self.db = db
        self.blobs = blobs
        self.signer = signer
        self.clock = clock

    def save(self, account_id: str, data: bytes, fmt: str, public_base_url: str, *, mode: str) -> str:
        """Store one output and return its absolute signed URL."""
        output_id = uuid.uuid4().hex
        key = f"outputs/{account_id}/{output_id}.{fmt}"
        self.blobs.put(key, data)
        with self.db.session() as s:
            s.add(Output(id=output_id, account_id=account_id, blob_key=key, fmt=fmt, mode=mode))
        name = f"{output_id}.{fmt}"
        return f"{public_base_url.rstrip('/')}{DOWNLOAD_PATH}/{name}?{self.signer.query(name, self.clock.timestamp())}"

    def open(self, name: str, expires: str | None, signature: str | None) -> tuple[bytes, str]:
        """The bytes and format of a signed download; raises 403 on a bad link."""
        self.signer.verify(name, expires, signature, self.clock.timestamp())
        output_id, _, fmt = name.partition(".")
        with self.db.session() as s:
            row = s.scalar(select(Output).where(Output.id == output_id))
        if row is None or row.fmt != fmt:
            raise NotFound()
        return self.blobs.get(row.blob_key), row.fmt
