"""The training pool's ingest: photos located in parallel, their chips embedded a few at a time.

Batching the embeddings must not change what training sees: every photo's faces are the ones the
analyser finds in the same decoded pixels, with the same descriptors (within 1e-6).
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from phota.errors import InvalidImage
from phota.identity import pool as pool_module
from phota.identity.faces import Face
from phota.identity.pool import EMBED_BATCH, AnalyserConfig, AnalysisPool
from phota.imaging.decode import decode_image
from tests.identity import analyser
from tests.photos import photo_path

LIMITS = {"max_side": 4096, "max_pixels": 1 << 25, "max_full_pixels": 50_000_000}
# A profile's worth of photos: one person, another person, a group with a small background
# face, and a photo without any face.
PHOTOS = [
    *(f"df_p02_img{i}.jpg" for i in (26, 27, 28, 42, 43, 44, 45, 46)),
    "df_p01_img1.jpg",
    "df_p10_img67.jpg",
    "group_two_people.jpg",
    "none_giraffe.jpg",
]


async def _ingest_all(pool: AnalysisPool, datas: list[bytes]) -> list[tuple[bytes, list[Face]] | BaseException]:
    return await asyncio.gather(
        *(pool.ingest(data, f"image_urls[{i}]", LIMITS) for i, data in enumerate(datas)), return_exceptions=True
    )


def test_batched_ingest_finds_the_faces_and_descriptors_of_a_photo_analysed_alone(face_pool: AnalysisPool) -> None:
    datas = [photo_path(name).read_bytes() for name in PHOTOS]
    results = asyncio.run(_ingest_all(face_pool, datas))
    chips = 0
    for name, data, result in zip(PHOTOS, datas, results, strict=True):
        assert not isinstance(result, BaseException), (name, result)
        jpeg, faces = result
        assert jpeg[:2] == b"\xff\xd8"  # the stored copy is a JPEG
        pixels = decode_image(
            data,
            name,
            max_side=LIMITS["max_side"],
            max_pixels=LIMITS["max_pixels"],
            max_full_pixels=LIMITS["max_full_pixels"],
        )
        alone = analyser().analyse(np.asarray(pixels))
        assert [f.box for f in faces] == [f.box for f in alone], name
        for got, want in zip(faces, alone, strict=True):
            assert got.embedding.shape == (128,)
            assert float(np.abs(got.embedding - want.embedding).max()) < 1e-6, name
            assert got.quality == want.quality and got.detection_score == want.detection_score
        chips += len(faces)
    assert chips > EMBED_BATCH  # the set is big enough to be embedded in more than one batch
    last = results[-1]
    assert not isinstance(last, BaseException) and last[1] == []  # no face: nothing to embed, no wait


def test_the_stored_copy_of_an_upright_jpeg_is_the_photo_itself_without_its_metadata(face_pool: AnalysisPool) -> None:
    photo = Image.open(photo_path("df_p02_img27.jpg"))
    exif = Image.Exif()
    exif[0x010E] = "secret-place-48.8584N"  # ImageDescription
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=92, exif=exif, comment=b"secret-comment")
    data = buf.getvalue()
    ((stored, faces),) = asyncio.run(_ingest_all(face_pool, [data]))  # type: ignore[misc]
    assert faces  # analysed as before
    assert b"secret-place" not in stored and b"secret-comment" not in stored and b"Exif" not in stored
    pixels = np.asarray(Image.open(io.BytesIO(stored)).convert("RGB"))
    assert np.array_equal(pixels, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_a_photo_that_cannot_be_decoded_fails_alone_and_the_others_still_finish(face_pool: AnalysisPool) -> None:
    datas = [photo_path(name).read_bytes() for name in PHOTOS[:5]]
    datas.insert(2, b"\xff\xd8 not really a jpeg")
    results = asyncio.run(_ingest_all(face_pool, datas))
    assert isinstance(results[2], InvalidImage) and "image_urls[2]" in str(results[2])
    others = [r for i, r in enumerate(results) if i != 2]
    assert all(not isinstance(r, BaseException) and len(r[1]) == 1 for r in others), others


def test_cancelled_ingests_leave_the_pool_usable(face_pool: AnalysisPool) -> None:
    datas = [photo_path(name).read_bytes() for name in PHOTOS[:6]]

    async def cancel_midway() -> list[tuple[bytes, list[Face]]]:
        tasks = [asyncio.create_task(face_pool.ingest(d, "x", LIMITS)) for d in datas]
        await asyncio.sleep(0.05)
        for task in tasks[:3]:
            task.cancel()
        done = await asyncio.gather(*tasks[3:])
        # Afterwards the same loop still embeds: nothing is left waiting on a cancelled photo.
        return [*done, await face_pool.ingest(datas[0], "again", LIMITS)]

    results = asyncio.run(asyncio.wait_for(cancel_midway(), 120))
    assert [len(faces) for _, faces in results] == [1, 1, 1, 1]


def test_a_single_photo_is_embedded_without_waiting_for_a_batch(face_pool: AnalysisPool) -> None:
    name = "df_p02_img26.jpg"
    # One photo, one chip: under the batch size, it must still be embedded (the flush when
    # nothing else is being located), not wait for chips that never come.
    _, faces = asyncio.run(asyncio.wait_for(face_pool.ingest(photo_path(name).read_bytes(), name, LIMITS), 60))
    assert len(faces) == 1 and faces[0].embedding.shape == (128,)


def test_the_pool_is_warmed_once_per_set_of_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every app start warms the pool it uses; an app sharing a warm pool must not warm it again
    # (each warm-up runs training's steps in every process), but new processes must be warmed.
    warmed: list[AnalyserConfig] = []

    def warm(config: AnalyserConfig) -> str:
        warmed.append(config)
        return "model"

    monkeypatch.setattr(pool_module, "_warm", warm)
    pool = AnalysisPool(AnalyserConfig(detect_side=1024, min_size_px=40), size=2)
    first = ThreadPoolExecutor(2)
    pool._executor = first  # type: ignore[assignment]
    try:
        pool.warm_up()
        pool.warm_up()
        assert len(warmed) == 2  # one per process, once
        first.shutdown()
        pool._executor = ThreadPoolExecutor(2)  # type: ignore[assignment]  # processes replaced
        pool.warm_up()
        assert len(warmed) == 4
    finally:
        pool.close()
