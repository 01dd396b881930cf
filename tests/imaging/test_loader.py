from __future__ import annotations

import asyncio
import base64
import threading
import time

import pytest
from PIL import Image

from phota.config import Settings
from phota.errors import ImageFetchError, InvalidImage
from phota.imaging.decode import decode_image
from phota.imaging.fetch import SafeUrlFetcher
from phota.imaging.loader import ImageLoader
from tests.imaging.conftest import LocalServer, photo

pytestmark = pytest.mark.anyio

WEBP = "df_p01_img5.webp"


def b64(name: str) -> str:
    return base64.b64encode(photo(name).read_bytes()).decode()


class ScriptedFetcher:
    """A UrlFetcher serving shared photos by file name, with hooks to observe concurrency."""

    def __init__(self, *, barrier: int = 0, hang: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.cancelled: list[str] = []
        self.barrier = barrier
        self.arrived = 0
        self.all_arrived = asyncio.Event()
        self.hang = hang or set()

    async def fetch(self, url: str, name: str) -> bytes:
        self.calls.append((url, name))
        file = url.rsplit("/", 1)[1]
        try:
            if self.barrier:
                self.arrived += 1
                if self.arrived == self.barrier:
                    self.all_arrived.set()
                await asyncio.wait_for(self.all_arrived.wait(), 5)  # times out unless all run at once
            if file in self.hang:
                await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise
        if file == "missing.jpg":
            raise ImageFetchError(f"{name}: fetching {url} failed with HTTP 404")
        return photo(file).read_bytes()


def loader(fetcher: object = None, **kw: int) -> ImageLoader:
    return ImageLoader(fetcher or ScriptedFetcher(), max_side=kw.get("max_side", 4096), max_pixels=10**8)  # type: ignore[arg-type]


async def test_base64_and_data_url_inputs() -> None:
    img = await loader().load(b64(WEBP), "images[0]")
    assert img.mode == "RGB" and img.size == (330, 512)
    img = await loader().load(f"data:image/heic;base64,{b64('df_p01_img2.heic')}", "images[0]")
    assert img.size == (1536, 1152)


async def test_url_input_through_a_real_server(fresh_server: LocalServer) -> None:
    settings = Settings(allow_private_urls=True, outbound_ports="*", max_input_side=256)
    img = await ImageLoader.from_settings(settings).load(fresh_server.url(f"/photo/{WEBP}"), "image")
    assert img.size == (165, 256)
    assert fresh_server.hits == [f"/photo/{WEBP}"]


async def test_from_settings_guards_private_urls_by_default(fresh_server: LocalServer) -> None:
    built = ImageLoader.from_settings(Settings(max_input_side=1000, max_input_pixels=5000, outbound_ports="*"))
    assert isinstance(built.fetcher, SafeUrlFetcher) and not built.fetcher.allow_private_urls
    assert (built.max_side, built.max_pixels) == (1000, 5000)
    with pytest.raises(ImageFetchError, match=r"^image: refusing to fetch .* loopback"):
        await built.load(fresh_server.url(f"/photo/{WEBP}"), "image")
    assert fresh_server.hits == []


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("file:///etc/passwd", "URL scheme 'file' is not supported"),
        ("ftp://example.com/a.jpg", "URL scheme 'ftp' is not supported"),
        ("not an image, not a url", "is neither a URL nor valid base64"),
        ("", "is empty"),
        (base64.b64encode(b"\x00" * 64).decode(), "not a recognised image"),
        (b64("df_p10_elon_smoke_animated.gif"), "unsupported format GIF"),
    ],
)
async def test_bad_sources_name_the_input(source: str, reason: str) -> None:
    fetcher = ScriptedFetcher()
    with pytest.raises(InvalidImage) as info:
        await loader(fetcher).load(source, "images[4]")
    assert info.value.message.startswith("images[4]") and reason in info.value.message
    assert fetcher.calls == []


async def test_load_many_keeps_order_and_names_inputs() -> None:
    fetcher = ScriptedFetcher(barrier=3)  # all three fetches must be in flight together
    images = await loader(fetcher).load_many(
        [
            "https://x.test/df_p01_img2.heic",
            b64(WEBP),
            "https://x.test/cat_chelsea.png",
            "https://x.test/df_p01_img6.jpg",
        ],
        "images",
    )
    assert [img.size for img in images] == [(1536, 1152), (330, 512), (451, 300), (750, 1050)]
    assert sorted(name for _, name in fetcher.calls) == ["images[0]", "images[2]", "images[3]"]
    assert await loader().load_many([], "images") == []


async def test_load_many_fails_fast_and_cancels_the_rest() -> None:
    fetcher = ScriptedFetcher(hang={"df_p01_img6.jpg"})
    # x[0] never answers: only failing fast (and cancelling it) lets load_many return at all.
    with pytest.raises(ImageFetchError, match=r"^x\[1\]: .*HTTP 404"):
        await loader(fetcher).load_many(["https://x.test/df_p01_img6.jpg", "https://x.test/missing.jpg"], "x")
    assert fetcher.cancelled == ["x[0]"]


async def test_load_many_reports_a_bad_base64_input_by_index() -> None:
    with pytest.raises(InvalidImage, match=r"^image_urls\[2\] is neither a URL nor valid base64"):
        await loader().load_many([b64(WEBP), b64(WEBP), "%%%"], "image_urls")


async def test_decoding_does_not_block_the_event_loop() -> None:
    data = b64("df_p06_img29_upscaled5000.jpg")  # about a second of decode + resize
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.monotonic()
        while not done:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    img = await loader().load(data, "images[0]")
    elapsed = time.monotonic() - started
    done = True
    await tick
    assert img.size == (3072, 4096)
    assert len(gaps) > 5
    # On the loop, one gap would span the whole decode.
    assert max(gaps) < max(0.25, elapsed / 2), (max(gaps), elapsed)


class TrackingDecoder:
    """Wraps the real decoder; records how many decodes run at once and what each returned."""

    def __init__(self, delay: float = 0.05) -> None:
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.delay = delay
        self.sizes: list[tuple[int, int]] = []

    def __call__(self, data: bytes, name: str, **kw: int) -> Image.Image:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)  # widen the window in which a second decode could overlap
            img = decode_image(data, name, **kw)
            self.sizes.append(img.size)
            return img
        finally:
            with self.lock:
                self.running -= 1


async def test_one_request_decodes_its_inputs_one_at_a_time() -> None:
    """Ten inputs of one /edit: fetched together, but never two full-size decodes at once."""
    decoder = TrackingDecoder()
    fetcher = ScriptedFetcher(barrier=5)  # the five URL fetches must still run concurrently
    sources = [f"https://x.test/{name}" for name in ["df_p03_img49.jpg", "df_p01_img6.jpg"] * 2]
    sources += ["https://x.test/cat_chelsea.png"] + [b64(WEBP)] * 5
    images = await ImageLoader(
        fetcher,  # type: ignore[arg-type]
        max_side=4096,
        max_pixels=10**8,
        decode_threads=4,
        decoder=decoder,
    ).load_many(sources, "images", max_side=1024)
    assert len(images) == 10 and len(decoder.sizes) == 10
    assert decoder.most == 1
    assert all(max(size) <= 1024 for size in decoder.sizes)
    assert images[0].size == (1024, 683)


async def test_separate_requests_decode_in_parallel_up_to_the_thread_limit() -> None:
    """Negative control for the test above: the one-at-a-time rule is per request, the process-wide
    bound is ``decode_threads``."""
    decoder = TrackingDecoder(delay=0.3)
    shared = ImageLoader(
        ScriptedFetcher(),  # type: ignore[arg-type]
        max_side=4096,
        max_pixels=10**8,
        decode_threads=2,
        decoder=decoder,
    )
    await asyncio.gather(*(shared.load_many([b64(WEBP)] * 2, f"r{i}") for i in range(3)))
    assert decoder.most == 2
    assert len(decoder.sizes) == 6
