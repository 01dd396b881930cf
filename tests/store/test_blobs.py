"""The BlobStore contract, the same for blobs on disk and in a real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from phota.errors import NotFound
from phota.store.blob_url import S3Location, parse_blob_url
from phota.store.blobs import BlobStore, FileBlobStore
from phota.store.s3_blobs import S3BlobStore
from tests.conftest import SeaweedFS


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
    location = parse_blob_url(seaweedfs.blob_url(f"contract-{uuid.uuid4().hex[:8]}"))
    assert isinstance(location, S3Location)
    return S3BlobStore(location)


def test_put_then_get_returns_the_same_bytes(store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    store.put("profiles/p1/photos/0.jpg", data)
    assert store.get("profiles/p1/photos/0.jpg") == data


def test_put_overwrites(store: BlobStore) -> None:
    store.put("a/b", b"one")
    store.put("a/b", b"two")
    assert store.get("a/b") == b"two"
    assert store.list_keys("a") == ["a/b"]


def test_missing_key_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get("no/such/key")


def test_list_keys_by_prefix(store: BlobStore) -> None:
    for key in ("profiles/ab/photos/0.jpg", "profiles/ab/picture.jpg", "profiles/abc/photos/0.jpg", "outputs/x.png"):
        store.put(key, b"x")
    assert store.list_keys("profiles/ab/") == ["profiles/ab/photos/0.jpg", "profiles/ab/picture.jpg"]
    assert store.list_keys("profiles/ab") == ["profiles/ab/photos/0.jpg", "profiles/ab/picture.jpg"]
    assert store.list_keys("outputs/x.png") == ["outputs/x.png"]
    assert store.list_keys("nothing/here") == []
    assert len(store.list_keys()) == 4


def test_listing_while_folders_are_deleted_does_not_fail(tmp_path: Path) -> None:
    """A job's clean-up removes its inputs' folder while another process lists the store (a poll, the
    sweeper). The listing returns what is there and never raises because a folder vanished under it; a
    folder that is never deleted is always listed in full (the negative control: nothing is skipped)."""
    store = FileBlobStore(tmp_path / "blobs")
    store.put("jobs/kept/images/0", b"x")
    stop = threading.Event()
    errors: list[BaseException] = []
    deleted = [0]

    def churn() -> None:
        try:
            while not stop.is_set():
                n = deleted[0]
                for i in range(20):
                    store.put(f"jobs/j{n}/images/{i}", b"x")
                store.delete_prefix(f"jobs/j{n}/")
                deleted[0] += 1
        except BaseException as exc:  # the churn must keep running for the test to mean anything
            errors.append(exc)

    worker = threading.Thread(target=churn)
    worker.start()
    listings = 0
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not errors:
            try:
                keys = store.list_keys("jobs")
            except BaseException as exc:  # any failure of the listing is the defect
                errors.append(exc)
                break
            assert "jobs/kept/images/0" in keys
            listings += 1
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert listings > 10 and deleted[0] > 10  # both sides really ran against each other


def test_a_folder_that_cannot_be_read_is_an_error_not_an_empty_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a folder that is gone is skipped: one that cannot be read (permissions, I/O) raises, or a check
    that a deleted profile left nothing would pass on a folder it could not see into."""
    store = FileBlobStore(tmp_path / "blobs")
    store.put("profiles/p1/photos/0.jpg", b"x")
    unreadable = tmp_path / "blobs" / "profiles" / "p1"
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(PermissionError):
        store.list_keys("profiles")
    # Negative control: the readable part of the store still lists.
    store.put("outputs/x.png", b"x")
    assert store.list_keys("outputs") == ["outputs/x.png"]


def test_list_dated_gives_each_blob_its_last_write_time(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)  # the S3 server's clock may differ a little
    for key in ("jobs/a/images/0", "jobs/a/style_image", "jobs/b/images/0", "outputs/x.png"):
        store.put(key, b"x")
    dated = store.list_dated("jobs")
    assert (
        [key for key, _ in dated]
        == store.list_keys("jobs")
        == ["jobs/a/images/0", "jobs/a/style_image", "jobs/b/images/0"]
    )
    after = datetime.now(UTC) + timedelta(seconds=5)
    assert all(before <= when <= after and when.tzinfo is not None for _, when in dated)
    assert store.list_dated("nothing") == []


def test_delete_prefix_removes_that_tree_and_nothing_beside_it(store: BlobStore) -> None:
    for key in ("profiles/ab/photos/0.jpg", "profiles/ab/crops/0.jpg", "profiles/abc/photos/0.jpg", "jobs/j/0"):
        store.put(key, b"x")
    store.delete_prefix("profiles/ab/")
    assert store.list_keys("profiles") == ["profiles/abc/photos/0.jpg"]  # negative control: the sibling stays
    with pytest.raises(NotFound):
        store.get("profiles/ab/photos/0.jpg")
    store.delete_prefix("jobs/j/0")  # one blob by its key
    assert store.list_keys("jobs") == []
    store.delete_prefix("never/written/")  # nothing there: no error


def test_delete_prefix_removes_more_than_one_listing_page(store: BlobStore) -> None:
    keys = [f"many/{i:04d}" for i in range(1003)]  # S3 lists and deletes 1000 at a time
    for key in keys:
        store.put(key, b"")
    assert len(store.list_keys("many")) == len(keys)
    store.delete_prefix("many/")
    assert store.list_keys("many") == []


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a/../../b", "a//b", "./a"])
def test_keys_must_be_plain_relative_paths(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="bad blob key"):
        store.put(key, b"x")


def test_file_store_has_no_presigned_urls(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    store.put("a.png", b"x")
    assert store.presigned_get("a.png", 60, "image/png") is None


def test_file_store_put_survives_its_folder_being_deleted_meanwhile(tmp_path: Path) -> None:
    # Two late writes and a delete of the enclosing folder (a job's inputs removed as it ends),
    # started together many times: the delete may take the folder from under a write, and a write
    # may add a file while the delete removes the tree. Each write must land or lose cleanly and
    # the delete must finish; neither may fail ("no such file", "directory not empty").
    store = FileBlobStore(tmp_path)
    rounds = 1500
    together = threading.Barrier(3)
    errors: list[BaseException] = []

    def each_round(act: Callable[[], None]) -> None:
        for _ in range(rounds):
            together.wait()
            try:
                act()
            except BaseException as exc:  # any failure is what the test looks for
                errors.append(exc)

    others = [
        threading.Thread(target=each_round, args=(lambda: store.delete_prefix("jobs/j1/"),)),
        threading.Thread(target=each_round, args=(lambda: store.put("jobs/j1/images/1", b"y" * 64),)),
    ]
    for t in others:
        t.start()
    each_round(lambda: store.put("jobs/j1/images/0", b"x" * 64))
    for t in others:
        t.join()
    assert errors == []
    store.put("jobs/j1/images/0", b"kept")  # the negative control: with nothing deleting, it stays
    assert store.get("jobs/j1/images/0") == b"kept"


# --- presigned URLs: the S3 server itself checks them ----------------------------------------


@pytest.fixture
def s3_store(seaweedfs: SeaweedFS) -> S3BlobStore:
    location = parse_blob_url(seaweedfs.blob_url(f"presign-{uuid.uuid4().hex[:8]}"))
    assert isinstance(location, S3Location)
    return S3BlobStore(location)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_url_downloads_with_its_content_type(s3_store: S3BlobStore) -> None:
    s3_store.put("outputs/a/1.png", b"\x89PNG-bytes")
    url = s3_store.presigned_get("outputs/a/1.png", 60, "image/png")
    assert url is not None
    r = httpx.get(url)
    assert r.status_code == 200
    assert r.content == b"\x89PNG-bytes"
    assert r.headers["content-type"] == "image/png"


def test_tampered_presigned_urls_are_refused_by_the_server(s3_store: S3BlobStore) -> None:
    s3_store.put("outputs/a/1.png", b"mine")
    s3_store.put("outputs/b/2.png", b"someone else's")
    url = s3_store.presigned_get("outputs/a/1.png", 60, "image/png")
    assert url is not None
    assert httpx.get(url).status_code == 200  # control: the untouched URL works
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    tampered = [
        url.replace("outputs/a/1.png", "outputs/b/2.png"),  # another object
        _with_query(url, **{"X-Amz-Expires": "604800"}),  # a longer life
        _with_query(url, **{"X-Amz-Signature": ("0" if signature[0] != "0" else "1") + signature[1:]}),
        _with_query(url, **{"response-content-type": "text/html"}),  # another content type
    ]
    for bad in tampered:
        r = httpx.get(bad)
        assert r.status_code == 403, (bad, r.status_code)
        assert r.content != b"someone else's"


def test_expired_presigned_url_is_refused_by_the_server(s3_store: S3BlobStore) -> None:
    s3_store.put("outputs/a/1.png", b"mine")
    url = s3_store.presigned_get("outputs/a/1.png", 1, "image/png")
    assert url is not None
    time.sleep(2.5)
    assert httpx.get(url).status_code == 403


def test_wrong_credentials_are_refused(seaweedfs: SeaweedFS) -> None:
    from botocore.exceptions import ClientError

    intruder = seaweedfs.client(aws_secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as info:
        intruder.list_objects_v2(Bucket=seaweedfs.bucket)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert httpx.get(f"{seaweedfs.endpoint_url}/{seaweedfs.bucket}/").status_code == 403  # anonymous


# --- PHOTA_BLOB_URL ---------------------------------------------------------------------------


def test_blob_url_parsing() -> None:
    assert parse_blob_url("s3://bucket-1/some/prefix?endpoint_url=http://127.0.0.1:9000") == S3Location(
        bucket="bucket-1", prefix="some/prefix/", endpoint_url="http://127.0.0.1:9000", addressing_style="path"
    )
    assert parse_blob_url("s3://bucket-1") == S3Location("bucket-1", "", None, "auto")
    assert parse_blob_url("file:///srv/blobs").root == Path("/srv/blobs")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://host/x", "scheme"),
        ("file://relative/path", "absolute path"),
        ("s3://Bad_Bucket", "bucket name"),
        ("s3://bucket/a/../b", "plain path segments"),
        ("s3://bucket?endpoint=http://x", "unknown option"),
        ("s3://bucket?endpoint_url=ftp://x", "http"),
        ("s3://bucket?addressing_style=sideways", "addressing_style"),
    ],
)
def test_malformed_blob_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_blob_url(url)
