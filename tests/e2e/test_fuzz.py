"""Property-based fuzzing of the whole API against its own OpenAPI document (schemathesis).

A real `phota serve` on a free port, a test key so that every authenticated operation is exercised
past authentication, and these checks on every response: no 5xx, every status code declared for the
operation, every body valid against the declared schema and content type. Bounded by examples per
operation and a time budget (docs/api.md, "Fuzzing").
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_server import Server, cli, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    # The server runs on its own SQLite file: the PostgreSQL pass would only repeat the same run.
    pytest.mark.skipif(os.environ.get("PHOTA_TEST_POSTGRES") == "1", reason="runs once, in the SQLite pass"),
]

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Per operation; 13 operations. Raise locally (PHOTA_FUZZ_EXAMPLES=500) for a longer hunt.
EXAMPLES = os.environ.get("PHOTA_FUZZ_EXAMPLES", "40")
MAX_TIME_S = os.environ.get("PHOTA_FUZZ_MAX_TIME_S", "120")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """One server for this module: starting one costs seconds."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTA_")}
    env.update(
        PHOTA_DATA_DIR=str(tmp_path / "data"),
        PHOTA_DATABASE_URL=f"sqlite:///{tmp_path}/phota.db",
        # Generated image URLs must not wait on the network: refuse private ones, short timeouts.
        PHOTA_FETCH_CONNECT_TIMEOUT_S="1",
        PHOTA_FETCH_READ_TIMEOUT_S="1",
        PHOTA_PROFILE_ADD_WAIT_S="0",
        PHOTA_REQUEST_TIMEOUT_S="60",
    )
    srv = Server(env, free_port())
    cli(env, "migrate")
    key = cli(env, "keys", "create", "--account", "fuzz", "--mode", "test").strip()
    srv.start()
    yield srv, key
    srv.stop()


TOOL_CRASH = "SystemError: AST constructor recursion depth mismatch"


def test_the_api_matches_its_own_document_under_fuzzing(fuzz_server: tuple[Server, str], tmp_path: Path) -> None:
    server, key = fuzz_server
    cmd = [
        SCHEMATHESIS,
        "run",
        f"{server.base}/v1/phota/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"X-API-Key: {key}",
        "--max-examples",
        EXAMPLES,
        "--max-time",
        MAX_TIME_S,
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--seed",
        os.environ.get("PHOTA_FUZZ_SEED", "20261201"),
        "--generation-database",
        "none",
        "--request-timeout",
        "60",
        "--no-color",
        "--suppress-health-check",
        "all",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    # Run from the test's own folder: schemathesis keeps a cache in its working directory.
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    if run.returncode != 0 and TOOL_CRASH in output:
        # CPython 3.11's AST validator can trip over its own recursion counter when the fuzzer's
        # threads describe their strategies concurrently: a crash of the fuzzer, not a finding
        # about the API. Run it once more; any other failure (or the same crash twice) still fails.
        run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        output = run.stdout + run.stderr
    server_log = server.log.read_text()
    assert run.returncode == 0, output[-12000:] + "\n--- server log ---\n" + server_log[-4000:]
    assert "Traceback" not in server_log, server_log[-6000:]


def test_a_210_mb_body_gets_the_documented_413(fuzz_server: tuple[Server, str]) -> None:
    """Over real HTTP, as a client sends it: declared length, and chunked without one."""
    import httpx

    server, key = fuzz_server
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    chunk = b"x" * (1 << 20)

    def body(megabytes: int) -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(megabytes):
            yield chunk
        yield b'"}'

    size = 210 * (1 << 20) + len(b'{"prompt": "') + len(b'"}')
    with httpx.Client(timeout=120) as client:
        declared = client.post(
            f"{server.base}/v1/phota/generate", content=body(210), headers={**headers, "Content-Length": str(size)}
        )
        chunked = client.post(f"{server.base}/v1/phota/generate", content=body(210), headers=headers)
        small = client.post(f"{server.base}/v1/phota/generate", json={"prompt": "a kite"}, headers=headers)
    for r in (declared, chunked):
        assert r.status_code == 413, r.text[:300]
        assert r.json()["error_type"] == "REQUEST_TOO_LARGE" and r.json()["request_id"] == r.headers["x-request-id"]
    assert small.status_code == 200  # negative control
