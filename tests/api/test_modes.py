"""Test data is kept apart from live data, as in Stripe; test outputs are marked and vary per request."""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from matplotlib import cbook
from PIL import Image

from phota.store.keys import authenticate
from tests.api.test_profiles import add, wait_status
from tests.conftest import PhotoServer, b64_file, identity_photos, new_key, services_of
from tests.engines.fakes.gemini import FakeGemini


def keys_of_one_account(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    """A test key and a funded live key of the same account."""
    account = f"acct-{uuid.uuid4().hex[:8]}"
    test, live = new_key(client, "test", account), new_key(client, "live", account)
    services = services_of(client)
    with services.db.session() as s:
        principal = authenticate(s, live)
    assert principal is not None
    services.ledger.top_up(principal.account_id, 50_000_000, "test")
    return {"X-API-Key": test}, {"X-API-Key": live}


def decode(data: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_a_test_mode_profile_does_not_exist_for_live_keys(
    live_client: TestClient, gemini: FakeGemini, photo_server: PhotoServer
) -> None:
    client = live_client  # live keys reach a (fake) provider, so a live request can get past the engine choice
    test, live = keys_of_one_account(client)
    urls = [photo_server.url(n) for n in identity_photos("dlib_john_savage")[:5]]
    r = add(client, test, urls, training_tier="fast", tag="t")
    assert r.status_code == 200, r.text
    pid = r.json()["profile_id"]
    assert wait_status(client, test, pid)["status"] == "READY"

    # Live key, same account: the profile is not there.
    assert client.get("/v1/phota/profiles/ids", headers=live).json()["profiles"] == []
    assert client.get(f"/v1/phota/profiles/{pid}/status", headers=live).status_code == 404
    assert client.get(f"/v1/phota/profiles/{pid}/profile_picture", headers=live).status_code == 404
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{pid}]] on a beach"}, headers=live)
    assert r.status_code == 404 and pid in r.json()["detail"]
    enhance = {"image": b64_file("df_p03_img8.jpg"), "profile_ids": [pid]}
    assert client.post("/v1/phota/enhance", json=enhance, headers=live).status_code == 404
    assert client.delete(f"/v1/phota/profiles/{pid}", headers=live).status_code == 404
    assert gemini.requests == []  # refused before any paid work

    # Negative control: the test key still sees and uses it (the live DELETE removed nothing).
    assert [p["profile_id"] for p in client.get("/v1/phota/profiles/ids", headers=test).json()["profiles"]] == [pid]
    assert client.get(f"/v1/phota/profiles/{pid}/profile_picture", headers=test).status_code == 200
    r = client.post("/v1/phota/generate", json={"prompt": f"[[{pid}]] on a beach"}, headers=test)
    assert r.status_code == 200 and r.json()["known_subjects"]["counts"].get(pid) == 1


def test_jobs_belong_to_their_mode(client: TestClient) -> None:
    test, live = keys_of_one_account(client)
    body = {"prompt": "a kite", "async": True, "response_mode": "urls", "client_request_id": "same-id"}
    handle = client.post("/v1/phota/generate", json=body, headers=test).json()
    assert client.get(handle["poll_url"], headers=live).status_code == 404
    assert client.get(handle["poll_url"], headers=test).status_code == 200
    # The same idempotency key in the other mode is another request, not the test job.
    services = services_of(client)
    services.settings.allow_private_urls = True
    with services.db.session() as s:
        from phota.store.models import Job

        job = s.get(Job, handle["job_id"])
        assert job is not None and job.mode == "test"


def test_test_mode_enhance_and_remix_carry_a_visible_test_mark(client: TestClient) -> None:
    """The local engines serve live keys too when nb2 is not configured: test outputs differ by the mark."""
    test, live = keys_of_one_account(client)
    photo = b64_file("df_p03_img8.jpg")
    request = {"image": photo, "output_format": "png", "seed": 7}
    marked = decode(client.post("/v1/phota/enhance", json=request, headers=test).json()["images"][0])
    clean = decode(client.post("/v1/phota/enhance", json=request, headers=live).json()["images"][0])
    assert marked.size == clean.size
    diff = np.abs(np.asarray(marked, dtype=np.int16) - np.asarray(clean, dtype=np.int16)).max(axis=2)
    ys, xs = np.nonzero(diff)
    # The only difference is a small badge in the lower-right corner...
    assert len(xs) > 0
    assert xs.min() > marked.width * 0.6 and ys.min() > marked.height * 0.6
    assert (xs.max() - xs.min()) * (ys.max() - ys.min()) < 0.02 * marked.width * marked.height

    # ...with the yellow "TEST" lettering, which the live output does not have.
    def yellow(img: Image.Image) -> int:
        a = np.asarray(img, dtype=np.int16)
        return int(((a[..., 0] > 230) & (a[..., 1] > 190) & (a[..., 1] < 235) & (a[..., 2] < 40)).sum())

    assert yellow(marked) > 20 and yellow(marked) > 10 * yellow(clean)

    remix = {"input_image": photo, "reference_image": b64_file("df_p01_img5.webp"), "output_format": "png"}
    marked = decode(client.post("/v1/phota/remix", json={**remix, "seed": 3}, headers=test).json()["images"][0])
    clean = decode(client.post("/v1/phota/remix", json={**remix, "seed": 3}, headers=live).json()["images"][0])
    assert yellow(marked) > 20 and yellow(marked) > 10 * yellow(clean)


def test_a_cut_out_uploaded_with_transparency_comes_back_on_white_with_its_tones(client: TestClient) -> None:
    """A product cut out on transparency (matplotlib's sample gift box, RGBA PNG) through /enhance on the local
    engine: flattened onto white, left a cut-out (no darkening into grey on grey), the backdrop still white."""
    _, live = keys_of_one_account(client)
    path = Path(cbook.get_sample_data("Minduka_Present_Blue_Pack.png", asfileobj=False))
    rgba = Image.open(path).convert("RGBA")
    assert np.asarray(rgba)[..., 3].min() == 0  # it does have transparency
    upload = base64.b64encode(path.read_bytes()).decode()
    r = client.post("/v1/phota/enhance", json={"image": upload, "output_format": "png"}, headers=live)
    assert r.status_code == 200, r.text
    out = decode(r.json()["images"][0]).convert("RGB")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    back = np.asarray(out.resize(rgba.size, Image.Resampling.LANCZOS), np.float64)
    assert abs(back.mean() - np.asarray(flat, np.float64).mean()) < 2.0
    corners = np.asarray(out)[:8, :8]
    assert corners.min() >= 254
    # Negative control: the same box on a light grey ground, as a camera would have it, is read as a blown
    # exposure and darkened (what the cut-out had been before it was read as one).
    grey = Image.new("RGB", rgba.size, (232, 232, 232))
    grey.paste(rgba, mask=rgba.getchannel("A"))
    buf = io.BytesIO()
    grey.save(buf, "PNG")
    body = {"image": base64.b64encode(buf.getvalue()).decode(), "output_format": "png"}
    shot = decode(client.post("/v1/phota/enhance", json=body, headers=live).json()["images"][0]).convert("RGB")
    darker = np.asarray(shot.resize(rgba.size, Image.Resampling.LANCZOS), np.float64).mean()
    assert darker < np.asarray(grey, np.float64).mean() - 30


def test_identical_test_requests_differ_unless_seeded(client: TestClient) -> None:
    test, _ = keys_of_one_account(client)
    cases = [
        ("/v1/phota/generate", {"prompt": "a red kite over a field"}),
        ("/v1/phota/edit", {"prompt": "make it dusk", "images": [b64_file("df_p03_img8.jpg")]}),
        ("/v1/phota/enhance", {"image": b64_file("df_p03_img8.jpg")}),
    ]
    for path, body in cases:
        first, second = (client.post(path, json=body, headers=test).json()["images"][0] for _ in range(2))
        assert first != second, path
        seeded = [client.post(path, json={**body, "seed": 42}, headers=test).json()["images"][0] for _ in range(2)]
        assert seeded[0] == seeded[1], path  # asked for: reproducible
        other = client.post(path, json={**body, "seed": 43}, headers=test).json()["images"][0]
        assert other != seeded[0], path


def test_seed_is_typed_strictly(client: TestClient) -> None:
    test, _ = keys_of_one_account(client)
    for bad in ["1", 1.5, True, -1, 2**32]:
        r = client.post("/v1/phota/generate", json={"prompt": "x", "seed": bad}, headers=test)
        assert r.status_code == 422, (bad, r.text)
    for bad_bool in [0, 1, "true", "yes"]:
        r = client.post("/v1/phota/generate", json={"prompt": "x", "include_identity_scores": bad_bool}, headers=test)
        assert r.status_code == 422, (bad_bool, r.text)
    r = client.post(
        "/v1/phota/generate", json={"prompt": "x", "include_identity_scores": True, "seed": 0}, headers=test
    )
    assert r.status_code == 200
