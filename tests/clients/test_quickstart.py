"""Done-when check: in a clean virtualenv, ``pip install ./clients/python`` and the README's Python SDK
quickstart train a profile from ten local photos, generate with ``[[id]]``, save the image and
verify a webhook that a real callback delivered."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import LiveServer
from tests.conftest import ROOT, identity_photos, photo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def readme_quickstart() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python SDK", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Python SDK section has no python block"
    return match.group(1)


def record_one_webhook(live: LiveServer, key: str) -> tuple[bytes, str]:
    """Run an async job whose callback comes to a receiver here; return what it received."""
    got: dict[str, object] = {}

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            got["sig"] = self.headers["X-Phota-Signature"]
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.handle_request, daemon=True).start()
    body = {
        "prompt": "a kite",
        "async": True,
        "response_mode": "urls",
        "callback_url": f"http://127.0.0.1:{server.server_address[1]}/hook",
    }
    r = httpx.post(f"{live.api}/generate", json=body, headers={"X-API-Key": key}, timeout=60)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 120
    while "sig" not in got and time.monotonic() < deadline:
        time.sleep(0.1)
    server.server_close()
    assert "sig" in got, "no callback arrived"
    return got["body"], str(got["sig"])  # type: ignore[return-value]


def test_readme_quickstart_in_a_clean_virtualenv(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.key()
    body, signature = record_one_webhook(live_server, key)
    (tmp_path / "webhook.json").write_bytes(body)
    (tmp_path / "webhook.sig").write_text(signature)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in identity_photos("dlib_john_schneider")[:10]:
        shutil.copy(photo(name), photos / name)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(ROOT / "clients" / "python")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr
    installed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True)
    names = {line.split("==")[0].lower() for line in installed.stdout.split()}
    assert {"phota-client", "httpx", "pydantic"} <= names
    assert not names & {"phota", "fastapi", "numpy", "pillow", "sqlalchemy", "dlib-bin", "torch"}

    script = tmp_path / "quickstart.py"
    script.write_text(readme_quickstart())
    env = {"PHOTA_BASE_URL": live_server.api, "PHOTA_API_KEY": key, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert len(script.read_text().strip().splitlines()) <= 16
    assert (tmp_path / "portrait.jpg").read_bytes().startswith(b"\xff\xd8")
    profile_id, counts = done.stdout.split(" ", 1)
    assert f"'{profile_id}': 1" in counts  # the generated person is recognised as the profile
    status = httpx.get(f"{live_server.api}/profiles/{profile_id}/status", headers={"X-API-Key": key}).json()
    assert status["status"] == "READY"
