"""Owner-only permissions for what the server keeps on disk.

The database holds webhook secrets and face embeddings; blobs hold people's photos. Directories are
created 0700 and files 0600 whatever the process umask. At start-up the data directory, the blob root,
the database files and the signing secret are tightened too: a 0700 directory closes everything
beneath it, so older files need not be walked one by one.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents, which get the same mode) as 0700, or tighten it."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(p, DIR_MODE)  # mkdir's mode is filtered by the umask
    if path.exists():
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if missing, or tighten it."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path
