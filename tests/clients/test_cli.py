"""``phota-client`` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import LiveServer
from tests.conftest import identity_photos, photo

CLI = str(Path(sys.executable).parent / "phota-client")
FACE = "dlib_john_salley"


def run(live: LiveServer, key: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOTA_BASE_URL": live.api, "PHOTA_API_KEY": key}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def key(live_server: LiveServer) -> str:
    return live_server.key()


@pytest.fixture(scope="module")
def trained(live_server: LiveServer, key: str) -> str:
    photos = [str(photo(n)) for n in identity_photos(FACE)[:10]]
    done = run(live_server, key, "profiles", "add", *photos, "--tag", "cli", "--wait")
    assert done.returncode == 0, done.stderr
    # Progress for the upload and for training on stderr; the READY id alone on stdout.
    assert "uploading [########################] 10/10" in done.stderr
    assert "training [" in done.stderr and "READY" in done.stderr
    profile_id = done.stdout.strip()
    status = httpx.get(f"{live_server.api}/profiles/{profile_id}/status", headers={"X-API-Key": key}).json()
    assert status["status"] == "READY"
    return profile_id


def test_profiles_add_wait_list_status_picture_delete(
    live_server: LiveServer, key: str, trained: str, tmp_path: Path
) -> None:
    listed = run(live_server, key, "profiles", "list", "--tag", "cli")
    assert listed.returncode == 0 and f"{trained}\tREADY\tcli" in listed.stdout
    assert run(live_server, key, "profiles", "status", trained).stdout.startswith(f"{trained}\tREADY")
    pic = run(live_server, key, "profiles", "picture", trained, "-o", str(tmp_path / "p.jpg"))
    assert pic.returncode == 0 and (tmp_path / "p.jpg").read_bytes().startswith(b"\xff\xd8")
    extra = run(
        live_server, key, "profiles", "add", *[str(photo(n)) for n in identity_photos(FACE)[:5]], "--tier", "fast"
    )
    assert extra.returncode == 0, extra.stderr
    extra_id = extra.stdout.strip()
    assert run(live_server, key, "profiles", "delete", extra_id).stdout == f"deleted {extra_id}\n"
    gone = run(live_server, key, "profiles", "status", extra_id)
    assert gone.returncode == 4
    assert gone.stderr.startswith("phota-client: error: NOT_FOUND") and "(request " in gone.stderr
    assert gone.stderr.count("\n") == 1  # one line, no traceback


def test_studio_commands_save_outputs_and_print_known_subjects(
    live_server: LiveServer, key: str, trained: str, tmp_path: Path
) -> None:
    out = tmp_path / "gen.png"
    gen = run(live_server, key, "generate", f"[[{trained}]] on a boat", "-o", str(out), "-n", "2")
    assert gen.returncode == 0, gen.stderr
    assert out.exists() and (tmp_path / "gen-2.png").exists()
    assert f"known subjects: {trained} x" in gen.stdout
    face = str(photo(identity_photos(FACE)[0]))
    edit = run(
        live_server,
        key,
        "edit",
        face,
        "add sunglasses",
        "-o",
        str(tmp_path / "e.jpg"),
        "--profile-id",
        trained,
        "--format",
        "jpg",
        "--scores",
    )
    assert edit.returncode == 0, edit.stderr
    assert (tmp_path / "e.jpg").read_bytes().startswith(b"\xff\xd8") and f'"{trained}":' in edit.stdout
    assert run(live_server, key, "enhance", face, "-o", str(tmp_path / "n.png")).returncode == 0
    remix = run(live_server, key, "remix", face, str(photo(identity_photos(FACE)[1])), "-o", str(tmp_path / "r.png"))
    assert remix.returncode == 0 and (tmp_path / "r.png").exists()


def test_async_submit_and_jobs_wait(live_server: LiveServer, key: str, tmp_path: Path) -> None:
    done = run(live_server, key, "generate", "a red kite", "-o", str(tmp_path / "a.png"), "--async")
    assert done.returncode == 0, done.stderr
    assert "job job_" in done.stderr or "submitted" in done.stderr
    job_id = done.stderr.split("job ", 1)[1].split()[0]
    waited = run(live_server, key, "jobs", "wait", job_id, "-o", str(tmp_path / "b.png"))
    assert waited.returncode == 0 and f"{job_id} succeeded" in waited.stdout
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()


def test_errors_are_one_line_with_the_request_id_and_a_usable_exit_code(
    live_server: LiveServer, tmp_path: Path
) -> None:
    bad = run(live_server, "sk_test_nope", "profiles", "list")
    assert bad.returncode == 3
    assert bad.stderr.startswith("phota-client: error: ") and "(request " in bad.stderr and bad.stdout == ""
    key = live_server.key()
    missing = run(live_server, key, "enhance", str(tmp_path / "none.jpg"), "-o", str(tmp_path / "x.png"))
    assert missing.returncode == 2 and "no such image file" in missing.stderr
    notimg = tmp_path / "notes.txt"
    notimg.write_text("hello")
    refused = run(live_server, key, "enhance", str(notimg), "-o", str(tmp_path / "x.png"))
    assert refused.returncode == 1 and "INVALID_IMAGE" in refused.stderr and "(request " in refused.stderr
    assert not (tmp_path / "x.png").exists()
    usage = run(live_server, key, "generate")
    assert usage.returncode == 2
