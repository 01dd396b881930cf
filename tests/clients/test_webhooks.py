"""The SDK's webhook check accepts exactly what the server signs (phota.jobs.callbacks.sign)."""

from __future__ import annotations

from phota.jobs.callbacks import sign
from phota_client import webhooks

BODY = b'{"job_id":"job_1","status":"succeeded"}'
SECRET = "whsec_test"


def test_accepts_the_servers_signature() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    assert webhooks.verify(BODY, header, SECRET, now=1_700_000_100)
    assert webhooks.verify(BODY.decode(), header, SECRET, now=1_700_000_100)


def test_refuses_tampering_wrong_secret_stale_and_malformed_headers() -> None:
    header = sign(SECRET, BODY, 1_700_000_000)
    assert not webhooks.verify(BODY + b" ", header, SECRET, now=1_700_000_000)
    assert not webhooks.verify(BODY, header, "whsec_other", now=1_700_000_000)
    assert not webhooks.verify(BODY, header, SECRET, now=1_700_000_301)  # older than the 300 s default
    assert webhooks.verify(BODY, header, SECRET, tolerance=600, now=1_700_000_301)
    for bad in ("", "t=abc,v1=00", "v1=00", "t=1700000000", "garbage"):
        assert not webhooks.verify(BODY, bad, SECRET, now=1_700_000_000)
