"""The playground and the API docs in a real headless Chromium (Debian's package, driven by Playwright).

Drives the whole flow on the shared photos: key, drop photos, train with live status and picture,
generate / edit / enhance / remix with [[id]] helpers, known_subjects and identity scores, delete,
usage for a live key. Screenshots are kept under the test's tmp dir and in test-artifacts/.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import LiveServer
from tests.conftest import ROOT, identity_photos, photo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FACE = "dlib_john_shimkus"
ARTIFACTS = ROOT / "test-artifacts" / "playground"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed by scripts/chromium.sh when missing (root, apt-get)."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "chromium.sh")], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=chromium,
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(60_000)
        yield context
        context.close()


class Shots:
    def __init__(self, tmp_path: Path, name: str) -> None:
        self.dirs = [tmp_path / "screenshots", ARTIFACTS / name]
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str) -> None:
        data = page.screenshot(full_page=True)
        for d in self.dirs:
            (d / f"{name}.png").write_bytes(data)


def outside_requests(page: Any, base: str) -> list[str]:
    """Every URL the page asked for, less those its Content-Security-Policy stopped before they left."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("requestfailed", lambda r: "csp" in (r.failure or "").lower() and seen.remove(r.url))
    return seen


def foreign(urls: list[str], base: str) -> list[str]:
    return [u for u in urls if not u.startswith((base, "data:", "blob:"))]


def drop_files(page: Any, selector: str, paths: list[Path]) -> None:
    """A real drop event on ``selector`` carrying ``paths`` as File objects."""
    files = [{"name": p.name, "b64": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
            }
            return dt;
        }""",
        files,
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_docs_and_redoc_render_offline(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    shots = Shots(tmp_path, "docs")
    page = browser.new_page()
    urls = outside_requests(page, live_server.url)
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".opblock-summary-path", state="attached")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/v1/phota/edit" in p for p in paths) and any("/v1/phota/uploads" in p for p in paths)
    assert page.locator("nav a[href='/playground/']").count() == 1
    shots.take(page, "swagger")
    page.goto(f"{live_server.url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", state="attached")
    assert page.locator("[data-section-id^='operation/']").count() >= 10
    shots.take(page, "redoc")
    assert foreign(urls, live_server.url) == []  # nothing from a CDN or any other host


def test_playground_end_to_end(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    shots = Shots(tmp_path, "flow")
    key = live_server.key()
    page = browser.new_page()
    urls = outside_requests(page, live_server.url)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.goto(f"{live_server.url}/playground")  # redirects to /playground/
    assert page.url.endswith("/playground/")

    # A wrong key: a one-line error with the request id, nothing else shown.
    page.fill("#api-key", "phota_test_wrong")
    page.click("#connect")
    page.wait_for_selector("#error:not([hidden])")
    assert "(request " in page.inner_text("#error")
    assert page.is_hidden("#app")

    page.fill("#api-key", key)
    page.click("#connect")
    page.wait_for_selector("#app:not([hidden])")
    assert "test key" in page.inner_text("#account")
    assert page.is_hidden("#usage")  # usage is for live keys
    assert page.is_hidden("#error")

    # Too few photos: the button stays off and says why.
    names = identity_photos(FACE)[:10]
    page.set_input_files("#photos", [str(photo(n)) for n in names[:3]])
    assert page.is_disabled("#train") and "needs 5 to 50" in page.inner_text("#train-status")
    drop_files(page, "#dropzone", [photo(n) for n in names])  # dropped, as a person would
    assert page.locator("#photo-strip img").count() == 10
    page.fill("#tag", "browser")
    shots.take(page, "1-photos-selected")
    page.click("#train")
    page.wait_for_selector("#trained:not([hidden])", timeout=240_000)
    profile_id = page.inner_text("#trained-id").strip()
    assert f"Profile {profile_id}: READY" in page.inner_text("#train-status")
    assert page.eval_on_selector("#trained-picture", "img => img.naturalWidth") > 0
    row = page.locator(f"#profiles li[data-profile-id='{profile_id}']")
    row.locator(".badge.READY").wait_for()
    shots.take(page, "2-trained")

    # generate with the [[id]] helper
    page.click("button.tab[data-op='generate']")
    page.fill("#prompt", "")
    page.click(f"#mention-helpers button:text('[[{profile_id}]]')")
    page.type("#prompt", "on a mountain at sunrise")
    assert page.input_value("#prompt").startswith(f"[[{profile_id}]] ")
    page.select_option("#num-images", "2")
    page.click("#run")
    page.wait_for_selector("#known-subjects")
    assert page.locator("#results .output img").count() == 2
    assert f"{profile_id} ×" in page.inner_text("#known-subjects")
    assert f"identity {profile_id}:" in page.inner_text("#results .output figcaption >> nth=0")
    shots.take(page, "3-generate")

    # edit: the input beside the output, the person recognised
    page.click("button.tab[data-op='edit']")
    page.set_input_files("#input-images", str(photo(identity_photos(FACE)[10])))
    page.fill("#prompt", "add a warm sunset light")
    page.select_option("#num-images", "1")
    page.click("#run")
    page.wait_for_selector("#results .input img")
    page.wait_for_selector("#known-subjects")
    assert page.locator("#results .input").count() == 1 and page.locator("#results .output").count() == 1
    assert f"{profile_id} ×1" in page.inner_text("#known-subjects")
    assert page.eval_on_selector("#results .output img", "img => img.naturalWidth") > 0
    shots.take(page, "4-edit")

    # enhance and remix
    page.click("button.tab[data-op='enhance']")
    page.fill("#prompt", "")
    page.set_input_files("#input-images", str(photo(names[0])))
    page.click("#run")
    page.wait_for_selector("#run-status:text('enhance done')")
    assert page.locator("#results .output img").count() == 1
    shots.take(page, "5-enhance")
    page.click("button.tab[data-op='remix']")
    page.set_input_files("#input-images", str(photo(names[1])))
    page.set_input_files("#reference-image", str(photo("biden_biden.jpg")))
    page.click("#run")
    page.wait_for_selector("#run-status:text('remix done')")
    assert page.locator("#results .input").count() == 2 and "reference:" in page.inner_text("#results")
    shots.take(page, "6-remix")

    # delete the profile: gone from the page and from the server
    row.locator("button.delete").click()
    row.wait_for(state="detached")
    assert dialogs and profile_id in dialogs[0]
    gone = httpx.get(f"{live_server.api}/profiles/{profile_id}/status", headers={"X-API-Key": key})
    assert gone.status_code == 404
    shots.take(page, "7-deleted")
    assert foreign(urls, live_server.url) == []


def test_live_key_shows_usage_and_balance(browser: Any, live_server: LiveServer, tmp_path: Path) -> None:
    shots = Shots(tmp_path, "usage")
    key = live_server.key("live", account="browser-live")
    with live_server.services.db.session() as s:
        from sqlalchemy import select

        from phota.store.models import Account

        account_id = s.scalar(select(Account.id).where(Account.name == "browser-live"))
    assert account_id is not None
    live_server.services.ledger.top_up(account_id, 12_500_000, "browser test top-up")
    page = browser.new_page()
    page.goto(f"{live_server.url}/playground/")
    page.fill("#api-key", key)
    page.click("#connect")
    page.wait_for_selector("#usage:not([hidden])")
    # The panel shows before its /usage call answers; wait for the figures, not the panel.
    page.wait_for_function("document.querySelector('#balance').textContent !== '–'")
    assert page.inner_text("#balance") == "$12.50"
    assert "browser test top-up" in page.inner_text("#ledger")
    shots.take(page, "live-usage")
