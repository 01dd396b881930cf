"""The signed download URL parser, fuzzed: any query string is a 403 or a valid download, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phota.errors import ForbiddenDownload
from phota.store.signing import MAX_EXPIRES_DIGITS, UrlSigner, parse_expires

NOW = 1_800_000_000
signer = UrlSigner(b"k" * 32, ttl_s=3600)


@given(st.text(max_size=6000))
@settings(max_examples=400, deadline=None)
def test_parse_expires_never_raises(text: str) -> None:
    value = parse_expires(text)
    if value is not None:
        assert text.isascii() and text.isdigit() and len(text) <= MAX_EXPIRES_DIGITS and value == int(text)


@given(
    name=st.text(max_size=80),
    expires=st.one_of(st.none(), st.text(max_size=40)),
    signature=st.one_of(st.none(), st.text(max_size=80)),
)
@settings(max_examples=400, deadline=None)
def test_verify_only_ever_refuses_cleanly(name: str, expires: str | None, signature: str | None) -> None:
    try:
        signer.verify(name, expires, signature, NOW)
    except ForbiddenDownload:
        return
    raise AssertionError("a random link was accepted")


@given(name=st.text(alphabet="0123456789abcdef.", min_size=1, max_size=40), drift=st.integers(0, 3599))
@settings(max_examples=100, deadline=None)
def test_genuine_links_verify_and_tampered_ones_do_not(name: str, drift: int) -> None:
    query = dict(part.split("=", 1) for part in signer.query(name, NOW).split("&"))
    signer.verify(name, query["expires"], query["signature"], NOW + drift)  # negative control: accepted
    with pytest.raises(ForbiddenDownload):
        signer.verify(name, str(int(query["expires"]) + 1), query["signature"], NOW)
    with pytest.raises(ForbiddenDownload):
        signer.verify(name + "x", query["expires"], query["signature"], NOW)


@pytest.mark.parametrize("expires", ["²", "①", "٣", "9" * 5000, "１２", "+1", "1_000"])
def test_digit_lookalikes_are_refused(expires: str) -> None:
    assert parse_expires(expires) is None
    with pytest.raises(ForbiddenDownload):
        signer.verify("a.png", expires, "0" * 64, NOW)
