"""Blob storage behind a small interface: photos, crops, pictures and outputs."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from phota.errors import NotFound
from phota.store.private_files import private_dir

DELETE_ATTEMPTS = 8  # passes of a file-store delete racing writers into the same folder (~0.13 s of waits at most)


class BlobStore(Protocol):
    """Keys are relative paths of plain segments (``a/b/c.jpg``); ``get`` of a missing key is NotFound.

    ``delete_prefix(p)`` removes the blob ``p`` and every blob under ``p/``, never ``p`` + other
    characters (``profiles/ab`` leaves ``profiles/abc``).
    """

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def list_dated(self, prefix: str = "") -> list[tuple[str, datetime]]:
        """``list_keys`` with each blob's last write time (UTC): sweeps judge a blob's age by it."""
        ...

    def presigned_get(self, key: str, ttl_s: int, content_type: str) -> str | None:
        """A URL that downloads the blob directly for ``ttl_s`` seconds; None when the store has none."""
        ...


def check_key(key: str) -> str:
    """The key itself, or ValueError when it is not a relative path of plain segments."""
    parts = key.rstrip("/").split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"bad blob key {key!r}")
    return key


def _raise_unless_gone(error: OSError) -> None:
    if not isinstance(error, FileNotFoundError):
        raise error


class FileBlobStore:
    """Blobs as files under one directory; writes are atomic (temp file + rename).

    Directories are 0700 and files 0600 (people's photos; see phota.store.private_files)."""

    def __init__(self, root: Path) -> None:
        self.root = private_dir(root.resolve())

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"bad blob key {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        for attempt in range(5):
            try:
                self._write(path, data)
                return
            except (FileNotFoundError, FileExistsError):
                # A delete_prefix of an enclosing folder removed it (or the temporary file) while
                # this write was under way (mkdir reports a folder removed between its own two
                # checks as existing): the folder is made again, as for a first write.
                if attempt == 4:
                    raise

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if not path.parent.is_dir():
            private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound() from None

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        for attempt in range(DELETE_ATTEMPTS):
            try:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                return
            except FileNotFoundError:
                return
            except OSError:
                # A writer added a file while the tree was being removed ("directory not empty").
                # Its write is a rename away from done: wait a moment (doubling) so that the next
                # pass removes the finished file instead of meeting the writer again.
                if attempt == DELETE_ATTEMPTS - 1:
                    raise
                time.sleep(0.001 * 2**attempt)

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.exists():
            return []
        # A folder removed while it is walked (a job's clean-up or the sweeper deleting its tree) is skipped:
        # its files are not keys any more (Path.rglob raised FileNotFoundError there). Any other error still
        # raises: a folder that cannot be read must not pass for an empty one (a deleted profile's check).
        keys = []
        for folder, _, names in os.walk(base, onerror=_raise_unless_gone):
            here = Path(folder).relative_to(self.root)
            keys += [str(here / name) for name in names if not name.startswith(".tmp-")]
        return sorted(keys)

    def list_dated(self, prefix: str = "") -> list[tuple[str, datetime]]:
        dated = []
        for key in self.list_keys(prefix):
            try:
                mtime = self._path(key).stat().st_mtime
            except FileNotFoundError:  # deleted since it was listed
                continue
            dated.append((key, datetime.fromtimestamp(mtime, UTC)))
        return dated

    def presigned_get(self, key: str, ttl_s: int, content_type: str) -> str | None:
        return None  # files are served by phota's own signed route
