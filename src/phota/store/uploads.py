"""Uploaded input images (a phota extension): stored blobs behind signed, expiring phota URLs.

An upload's URL is ``<base>/v1/phota/uploads/<id>?expires=<t>&signature=<hmac>``. The server
recognises its own upload URLs wherever an image URL is accepted and reads the blob directly,
so no HTTP fetch (and no private-address rule) is involved. The blob key carries the owning
account and the expiry: ``uploads/<account>/<expires>-<id>``. A caller of another account finds
no blob under its own prefix (404), and the sweep finds expired blobs by listing, with no
database row to keep in step with the store.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from phota.clock import Clock
from phota.errors import ForbiddenDownload, InvalidImage, NotFound
from phota.store.blobs import BlobStore
from phota.store.signing import UrlSigner

log = logging.getLogger("phota.uploads")
UPLOAD_PATH = "/v1/phota/uploads"
_ID = re.compile(r"^u_[0-9a-f]{32}$")
_KEY = re.compile(r"^uploads/([^/]+)/(\d+)-(u_[0-9a-f]{32})$")


@dataclass(frozen=True)
class Upload:
    upload_id: str
    url: str
    expires_at: int  # unix seconds


class UploadStore:
    def __init__(self, blobs: BlobStore, signer: UrlSigner, clock: Clock) -> None:
        self.blobs = blobs
        self.signer = signer  # its ttl_s is the upload lifetime
        self.clock = clock

    def save(self, account_id: str, data: bytes, public_base_url: str) -> Upload:
        """Store already validated image bytes; returns the upload with its absolute signed URL."""
        upload_id = f"u_{uuid.uuid4().hex}"
        query = self.signer.query(_signed_name(upload_id), self.clock.timestamp())
        expires = int(parse_qs(query)["expires"][0])
        self.blobs.put(_key(account_id, expires, upload_id), data)
        return Upload(upload_id, f"{public_base_url.rstrip('/')}{UPLOAD_PATH}/{upload_id}?{query}", expires)

    @staticmethod
    def is_upload_url(url: str) -> bool:
        """True for a URL shaped like one of ours (any host: the signature decides, not the address)."""
        parts = urlsplit(url.strip())
        head, _, upload_id = parts.path.rpartition("/")
        return head.endswith(UPLOAD_PATH) and bool(_ID.match(upload_id)) and "signature=" in parts.query

    def read(self, url: str, account_id: str | None, name: str) -> bytes:
        """The bytes behind an upload URL, for ``account_id`` only.

        A forged or expired link is a 400 naming the input; a link to another account's (or a deleted)
        upload is a 404, as if it did not exist.
        """
        key = self._verified_key(url, account_id, name)
        try:
            return self.blobs.get(key)
        except NotFound:
            raise NotFound(f"{name}: upload not found.") from None

    def _verified_key(self, url: str, account_id: str | None, name: str) -> str:
        parts = urlsplit(url.strip())
        upload_id = parts.path.rpartition("/")[2]
        query = parse_qs(parts.query)
        expires = query.get("expires", [""])[0]
        signature = query.get("signature", [""])[0]
        try:
            self.signer.verify(_signed_name(upload_id), expires, signature, self.clock.timestamp())
        except ForbiddenDownload as exc:
            expired = exc.message != ForbiddenDownload.default_message  # the signer's own "has expired"
            raise InvalidImage(f"{name}: the upload link {'has expired' if expired else 'is invalid'}") from None
        if account_id is None:
            raise NotFound(f"{name}: upload not found.")
        return _key(account_id, int(expires), upload_id)

    def check(self, account_id: str, urls: list[str], field: str) -> None:
        """Raise as :meth:`read` would for the first of ``urls`` that is an upload the account cannot use."""
        for i, url in enumerate(urls):
            if isinstance(url, str) and self.is_upload_url(url):
                name = f"{field}[{i}]"
                key = self._verified_key(url, account_id, name)
                if not self.blobs.list_keys(key):
                    raise NotFound(f"{name}: upload not found.")

    def delete_urls(self, account_id: str, urls: list[str]) -> int:
        """Delete the account's uploads among ``urls`` now; returns how many. Forged or expired links are
        skipped: they open nothing of the account's that the sweep would not delete anyway."""
        deleted = 0
        for url in urls:
            if not (isinstance(url, str) and self.is_upload_url(url)):
                continue
            try:
                key = self._verified_key(url, account_id, "upload")
            except InvalidImage:
                continue
            self.blobs.delete_prefix(key)
            deleted += 1
        return deleted

    def sweep(self) -> int:
        """Delete every expired upload; returns how many. Safe to run in several processes at once."""
        now = self.clock.timestamp()
        deleted = 0
        for key in self.blobs.list_keys("uploads/"):
            match = _KEY.match(key)
            if match is not None and int(match.group(2)) < now:
                self.blobs.delete_prefix(key)
                deleted += 1
        return deleted


def _signed_name(upload_id: str) -> str:
    # A distinct namespace from output downloads: an output's signature never opens an upload.
    return f"uploads/{upload_id}"


def _key(account_id: str, expires: int, upload_id: str) -> str:
    if not _ID.match(upload_id) or "/" in account_id:
        raise NotFound()
    return f"uploads/{account_id}/{expires}-{upload_id}"


async def sweep_forever(store: UploadStore, interval_s: float) -> None:
    """Delete expired uploads every ``interval_s`` until cancelled; a failed sweep is retried next time."""
    while True:
        try:
            deleted = await asyncio.to_thread(store.sweep)
            if deleted:
                log.info("deleted %d expired upload(s)", deleted)
        except Exception:
            log.exception("upload sweep failed")
        await asyncio.sleep(interval_s)
