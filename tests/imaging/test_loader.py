from __future__ import annotations

import asyncio
import base64
import time

import pytest

from phota.config import Settings
from phota.errors import ImageFetchError, InvalidImage
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
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"^x\[1\]: .*HTTP 404"):
        await loader(fetcher).load_many(["https://x.test/df_p01_img6.jpg", "https://x.test/missing.jpg"], "x")
    assert time.monotonic() - started < 5
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
