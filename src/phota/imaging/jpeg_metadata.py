"""Remove a JPEG's metadata without touching its compressed picture.

A training photo that arrives as an upright JPEG within the size limit is kept as it came, not
re-encoded: no second generation of compression loss, and no encoder pass (the largest cost of
storing a photo). What must not be kept is what a camera or an editor wrote beside the picture:
EXIF (GPS position, camera serial, the capture time), XMP, IPTC, comments, ICC profiles, embedded
thumbnails. The rewrite keeps only the segments a decoder needs to draw the same pixels, and gives
up (``None``: the caller re-encodes) on anything it does not know to be that.
"""

from __future__ import annotations

import re

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
# Frames this rewrite passes through: baseline, extended and progressive Huffman (8-bit checked
# below). Lossless, hierarchical and arithmetic-coded frames are rare enough to re-encode.
_FRAMES = frozenset({0xC0, 0xC1, 0xC2})
# Tables and parameters the picture needs: Huffman tables, quantisation tables, restart interval.
_TABLES = frozenset({0xC4, 0xDB, 0xDD})
APP0, APP14, COM = 0xE0, 0xEE, 0xFE
# Segments (scans included) this rewrite walks before giving up: real files have tens, a few hundred
# at most; a file of millions of tiny segments is re-encoded instead of walked in Python.
MAX_SEGMENTS = 4096
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")  # a marker (or a fill byte before one)
_JFIF_NO_THUMBNAIL = 16  # APP0 length of a JFIF header without a thumbnail
_ADOBE = b"Adobe"  # APP14: says whether three components are YCbCr or RGB; needed to draw the colours
_ADOBE_LENGTH = 16  # marker, length, "Adobe", version, two flag words, the colour transform


def strip_metadata(data: bytes) -> bytes | None:
    """``data`` with every metadata segment removed and nothing after the end of the image; the
    same compressed picture, bit for bit. ``None`` when ``data`` is not a JPEG this rewrite can
    vouch for (truncated, malformed, 12-bit, arithmetic-coded, multi-picture ...)."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != SOI:
        return None
    out = [data[:2]]
    i, frame = 2, False
    for _ in range(MAX_SEGMENTS):
        if i + 1 >= n or data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == EOI:
            return b"".join(out) + b"\xff\xd9" if frame else None
        if i + 4 > n:
            return None
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if end <= i + 3 or end > n:
            return None
        segment = data[i:end]
        if marker in _FRAMES:
            if segment[4] != 8:  # sample precision: 12-bit JPEGs go through a re-encode
                return None
            frame = True
            out.append(segment)
        elif marker in _TABLES or (marker == APP0 and _plain_jfif(segment)):
            out.append(segment)
        elif marker == APP14 and segment[4:9] == _ADOBE:
            if len(segment) != _ADOBE_LENGTH:
                return None
            out.append(segment)
        elif 0xE0 <= marker <= 0xEF or marker == COM:
            pass  # metadata: dropped
        elif marker == SOS and frame:
            scan_end = _entropy_end(data, end)
            if scan_end is None:
                return None
            out.append(data[i:scan_end])
            i = scan_end
            continue
        else:
            return None
        i = end
    return None


def _plain_jfif(segment: bytes) -> bool:
    """A JFIF header without a thumbnail (a thumbnail may show what the photo showed before an edit)."""
    return len(segment) == 2 + _JFIF_NO_THUMBNAIL and segment[4:9] == b"JFIF\x00"


def _entropy_end(data: bytes, start: int) -> int | None:
    """Where a scan's entropy-coded data ends: at the first marker that is neither a stuffed
    0xFF (``FF 00``) nor a restart marker (``FF D0``-``FF D7``). One regular-expression scan in C:
    a loop over every 0xFF in Python would let a file of stuffed bytes cost seconds."""
    found = _SCAN_END.search(data, start)
    return None if found is None else found.start()
