"""flux-2 / qwen-image-2 on local weights, run for real through tiny random diffusers pipelines on CPU.

Skipped where the optional ``diffusers`` extra is not installed. The pipelines are the ones
diffusers' own tests build (random 1–2 layer modules, offline tokenizers), so the images mean
nothing, but every call goes through the real pipeline code: prompt encoding, reference
pictures, latents, VAE decode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from PIL import Image, ImageChops

from phota.config import Settings
from phota.engines import diffusers_local
from phota.engines.base import EngineRequest, InputImage
from phota.engines.diffusers_local import (
    Flux2LocalEngine,
    QwenEditLocalEngine,
    build_local_engines,
)
from phota.errors import ProviderError, ProviderNotConfigured, ServiceUnavailable
from tests.engines.conftest import make_request, ref, run, solid
from tests.engines.tiny_pipelines import shrink_edit_plus_sizes, tiny_flux2, tiny_qwen_edit_plus

# Two steps and short prompts; FLUX.2's default (10, 20, 30) hidden layers do not exist in a 1-layer encoder.
FLUX_KWARGS = {"num_inference_steps": 2, "max_sequence_length": 16, "text_encoder_out_layers": (1,)}
QWEN_KWARGS = {"num_inference_steps": 2, "max_sequence_length": 16}


class Recorder:
    """Wraps a pipeline: records each call's arguments, delegates everything else."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipeline(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)


@pytest.fixture(scope="module")
def flux_pipe() -> Any:
    return tiny_flux2()


@pytest.fixture(scope="module")
def qwen_pipe() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        shrink_edit_plus_sizes(mp)
        yield tiny_qwen_edit_plus()


def settings(**overrides: Any) -> Settings:
    return Settings(**overrides)


def flux(pipe: Any) -> tuple[Flux2LocalEngine, Recorder]:
    rec = Recorder(pipe)
    return Flux2LocalEngine(settings(), pipeline=rec, call_kwargs=FLUX_KWARGS), rec


def qwen(pipe: Any, **kwargs: Any) -> tuple[QwenEditLocalEngine, Recorder]:
    rec = Recorder(pipe)
    return QwenEditLocalEngine(settings(), pipeline=rec, call_kwargs={**QWEN_KWARGS, **kwargs}), rec


def request(**overrides: Any) -> EngineRequest:
    values: dict[str, Any] = {"prompt": "person A on a beach", "width": 48, "height": 32, "seed": 7}
    values.update(overrides)
    return make_request(**values)


def refs(count: int) -> list[Any]:
    # 40 px crops: FLUX.2 refuses pictures under 64 px, so the engine must scale them up.
    return [ref("person A", 40, 0.9), ref("person B", 72, 0.8)][:count]


def same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is None


# --- FLUX.2 --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_flux_generates_with_references(flux_pipe: Any, count: int) -> None:
    engine, rec = flux(flux_pipe)
    result = run(engine.run(request(references=refs(count))))
    assert [im.size for im in result.images] == [(48, 32)]
    assert result.images[0].mode == "RGB"
    assert result.usage.provider == "diffusers" and result.usage.images == 1
    [call] = rec.calls
    sent = call["image"] or []
    assert len(sent) == count and all(min(im.size) >= 64 for im in sent)
    if count == 2:
        assert "Person A is shown in image 1; person B is shown in image 2." in call["prompt"]
    else:
        assert call["prompt"].endswith("person A on a beach")


def test_flux_edit_sends_input_first(flux_pipe: Any) -> None:
    engine, rec = flux(flux_pipe)
    photo = InputImage(solid(96, 64, (200, 30, 30)), "images[0]")
    run(engine.run(request(operation="edit", inputs=[photo], references=refs(1))))
    [call] = rec.calls
    assert [im.size for im in call["image"]] == [(96, 64), (64, 64)]
    assert call["prompt"].startswith("Image 1 is the photo to edit. Person A is shown in image 2.")


def test_flux_n_two_is_one_batched_call_with_distinct_images(flux_pipe: Any) -> None:
    engine, rec = flux(flux_pipe)
    result = run(engine.run(request(n=2, width=33, height=25)))
    assert [im.size for im in result.images] == [(33, 25)] * 2  # pipeline ran at 32x24, resized back
    assert not same(*result.images)
    [call] = rec.calls
    assert call["num_images_per_prompt"] == 2 and (call["width"], call["height"]) == (32, 24)


def test_flux_seed_is_reproducible(flux_pipe: Any) -> None:
    engine, _ = flux(flux_pipe)
    a, b, c = (run(engine.run(request(seed=s, references=refs(1)))).images[0] for s in (11, 11, 12))
    assert same(a, b)
    assert not same(a, c)


def test_flux_without_seed_derives_one_from_the_prompt(flux_pipe: Any) -> None:
    engine, _ = flux(flux_pipe)
    a, b = (run(engine.run(request(seed=None))).images[0] for _ in range(2))
    assert same(a, b)


# --- Qwen-Image-Edit-Plus ------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2])
def test_qwen_generates_with_references(qwen_pipe: Any, count: int) -> None:
    engine, rec = qwen(qwen_pipe)
    result = run(engine.run(request(references=refs(count))))
    assert [im.size for im in result.images] == [(48, 32)]
    [call] = rec.calls
    if count == 0:  # EditPlus needs a picture: a blank canvas of the output's shape
        assert [im.size for im in call["image"]] == [(48, 32)]
        assert call["prompt"].startswith("Picture 1 is a blank canvas")
    else:
        assert [im.size for im in call["image"]] == [(40, 40), (72, 72)][:count]
        assert "Person A is shown in Picture 1" in call["prompt"]


def test_qwen_n_two_loops_with_distinct_images(qwen_pipe: Any) -> None:
    engine, rec = qwen(qwen_pipe)
    result = run(engine.run(request(n=2, references=refs(1))))
    assert [im.size for im in result.images] == [(48, 32)] * 2
    assert not same(*result.images)
    assert [c["num_images_per_prompt"] for c in rec.calls] == [1, 1]


def test_qwen_seed_is_reproducible_with_true_cfg(qwen_pipe: Any) -> None:
    # The model card's true CFG with a blank negative prompt: two transformer passes per step.
    engine, rec = qwen(qwen_pipe, true_cfg_scale=4.0, negative_prompt=" ")
    a, b, c = (run(engine.run(request(seed=s, references=refs(1)))).images[0] for s in (5, 5, 6))
    assert same(a, b)
    assert not same(a, c)
    assert rec.calls[0]["true_cfg_scale"] == 4.0


def test_qwen_keeps_at_most_three_pictures(qwen_pipe: Any) -> None:
    engine, rec = qwen(qwen_pipe)
    photo = InputImage(solid(64, 48, (200, 30, 30)), "images[0]")
    crops = [ref("person A", 40, 0.9), ref("person A", 44, 0.1), ref("person B", 48, 0.5)]
    run(engine.run(request(operation="edit", inputs=[photo], references=crops)))
    [call] = rec.calls
    assert [im.size for im in call["image"]] == [(64, 48), (40, 40), (48, 48)]


# --- loading and errors --------------------------------------------------------------------


def test_lazy_load_happens_once_under_concurrent_first_calls(
    flux_pipe: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[tuple[str, Path]] = []
    lock = threading.Lock()

    def fake_load(class_name: str, weights: Path) -> Any:
        with lock:
            loads.append((class_name, weights))
        time.sleep(0.3)  # long enough for every caller to arrive while loading
        return flux_pipe

    monkeypatch.setattr(diffusers_local, "load_pipeline", fake_load)
    [engine] = build_local_engines(settings(flux2_backend="diffusers", flux2_weights=tmp_path)).values()
    assert isinstance(engine, Flux2LocalEngine)
    engine.call_kwargs.update(FLUX_KWARGS)
    assert loads == []  # nothing loads at startup

    async def four() -> list[Any]:
        return await asyncio.gather(*(engine.run(request(seed=i)) for i in range(4)))

    results = run(four())
    assert loads == [("Flux2Pipeline", tmp_path)]
    assert all(len(r.images) == 1 for r in results)
    run(engine.run(request()))
    assert len(loads) == 1


def test_loads_saved_weights_with_from_pretrained(flux_pipe: Any, tmp_path: Path) -> None:
    flux_pipe.save_pretrained(tmp_path / "flux2")
    [engine] = build_local_engines(settings(flux2_backend="diffusers", flux2_weights=tmp_path / "flux2")).values()
    assert isinstance(engine, Flux2LocalEngine)
    engine.call_kwargs.update(FLUX_KWARGS)
    loaded = run(engine.run(request(seed=3))).images[0]
    direct = run(flux(flux_pipe)[0].run(request(seed=3))).images[0]
    assert same(loaded, direct)  # same weights, same seed, same picture


@pytest.mark.parametrize(
    ("backend", "setting"),
    [({"flux2_backend": "diffusers"}, "PHOTA_FLUX2_WEIGHTS"), ({"qwen_backend": "diffusers"}, "PHOTA_QWEN_WEIGHTS")],
)
def test_missing_weights_fail_at_build_naming_the_setting(
    backend: dict[str, str], setting: str, tmp_path: Path
) -> None:
    with pytest.raises(ProviderNotConfigured, match=setting):
        build_local_engines(settings(**backend))
    weights = {"flux2_weights" if "FLUX" in setting else "qwen_weights": tmp_path / "absent"}
    with pytest.raises(ProviderNotConfigured, match=setting):
        build_local_engines(settings(**backend, **weights))


def test_unloadable_weights_are_service_unavailable_naming_the_setting(tmp_path: Path) -> None:
    engine = QwenEditLocalEngine(settings(qwen_weights=tmp_path))  # an empty directory: no model_index.json
    with pytest.raises(ServiceUnavailable, match="PHOTA_QWEN_WEIGHTS"):
        run(engine.run(request()))
    with pytest.raises(ProviderNotConfigured, match="PHOTA_FLUX2_WEIGHTS"):
        Flux2LocalEngine(settings())


def test_only_diffusers_backends_are_built(tmp_path: Path) -> None:
    assert build_local_engines(settings(flux2_weights=tmp_path, qwen_weights=tmp_path)) == {}
    both = build_local_engines(
        settings(flux2_backend="diffusers", flux2_weights=tmp_path, qwen_backend="diffusers", qwen_weights=tmp_path)
    )
    assert {name: type(e) for name, e in both.items()} == {
        "flux-2": Flux2LocalEngine,
        "qwen-image-2": QwenEditLocalEngine,
    }


def test_failing_pipeline_is_a_provider_error() -> None:
    class Broken:
        vae_scale_factor = 8

        def __call__(self, **kwargs: Any) -> Any:
            raise RuntimeError("CUDA out of memory")

    engine = Flux2LocalEngine(settings(), pipeline=Broken())
    with pytest.raises(ProviderError, match="CUDA out of memory"):
        run(engine.run(request()))


def test_short_pipeline_output_is_a_provider_error() -> None:
    class Short:
        vae_scale_factor = 8

        def __call__(self, **kwargs: Any) -> Any:
            return type("Out", (), {"images": [Image.new("RGB", (48, 32))]})()

    engine = Flux2LocalEngine(settings(), pipeline=Short())
    with pytest.raises(ProviderError, match="1 of 2"):
        run(engine.run(request(n=2)))
