"""A key revoked by one process stops working in every API process within a second."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_server import Server, cli, env, free_port

pytestmark = pytest.mark.e2e
__all__ = ["env"]  # the fixture, shared with test_server


def test_revocation_reaches_two_servers_on_one_database_within_a_second(env: dict[str, str], tmp_path: Path) -> None:
    servers = [Server(env, free_port()), Server(env, free_port())]
    for srv in servers:
        srv.start()
    try:
        revoked = cli(env, "keys", "create", "--account", "acme").strip()
        kept = cli(env, "keys", "create", "--account", "acme").strip()
        for srv in servers:  # each process has checked (and cached) both keys
            for key in (revoked, kept):
                assert httpx.get(f"{srv.base}/v1/phota/", headers={"X-API-Key": key}).status_code == 200
        assert "revoked 1 key(s)" in cli(env, "keys", "revoke", revoked[:19])  # a third process
        # PHOTA_AUTH_CACHE_TTL_S (0.5 s) bounds how long a process trusts its cache: after a
        # second the revocation is seen everywhere, however busy the machine is.
        time.sleep(1.0)
        for srv in servers:
            r = httpx.get(f"{srv.base}/v1/phota/", headers={"X-API-Key": revoked})
            assert r.status_code == 401, srv.base
            status = httpx.get(f"{srv.base}/v1/phota/profiles/p1/status", headers={"X-API-Key": revoked})
            assert status.status_code == 401
            # The account's other key is untouched.
            assert httpx.get(f"{srv.base}/v1/phota/", headers={"X-API-Key": kept}).status_code == 200
    finally:
        for srv in servers:
            srv.stop()
