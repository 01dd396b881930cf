"""Tiny randomly initialised FLUX.2 and Qwen-Image-Edit-Plus pipelines, built offline.

The component configs are the ones diffusers' own tests use (docs PROVIDERS.md §6.3); the
tokenizers are byte-level BPEs trained here on a few strings (§6.4) because the hub is not
reachable, with their special tokens placed at the ids the tiny text encoders expect. Only
imported by tests that already skipped when torch/diffusers are missing.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# Text the BPEs learn their merges from; any few sentences will do.
_CORPUS = [
    "A portrait photo of person A smiling in a sunny park.",
    "Picture 1 is the photo to edit. Keep every person's identity exactly as in their reference pictures.",
    "image 2 shows person B wearing a red jacket at the beach, golden hour, 35mm film.",
    "You are an AI that reasons about image descriptions. Describe the key features of the input image.",
]

# Mistral-style template: system text then [INST] user text [/INST]. Content arrives as a list of
# {"type": "text", "text": ...} parts (diffusers' format_input) or as a plain string.
_MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['content'] is string %}{% set text = m['content'] %}"
    "{% else %}{% set text = m['content'] | map(attribute='text') | join('') %}{% endif %}"
    "{% if m['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{% elif m['role'] == 'user' %}[INST]{{ text }}[/INST]"
    "{% else %}{{ text }}{{ eos_token }}{% endif %}{% endfor %}"
)

_QWEN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}"
    "{% else %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Specials first, so each sits at its index: ids the tiny encoder configs below rely on.
MISTRAL_SPECIALS = [
    "<unk>",
    "[IMG]",
    "<s>",
    "</s>",
    "<pad>",
    "[INST]",
    "[/INST]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
]
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def _bpe(specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    for i, special in enumerate(specials):
        assert tok.token_to_id(special) == i, special
    return tok


def _untyped(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def mistral_tokenizer() -> Any:
    """A plain fast tokenizer with a chat template: the text-only path of Flux2Pipeline needs no Pixtral processor."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=_bpe(MISTRAL_SPECIALS),
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        chat_template=_MISTRAL_TEMPLATE,
    )


def qwen_tokenizer() -> Any:
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        tokenizer_object=_bpe(QWEN_SPECIALS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=_QWEN_TEMPLATE,
    )


def tiny_flux2() -> Any:
    """Flux2Pipeline with 1-layer random modules; call it with ``text_encoder_out_layers=(1,)``."""
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Pipeline, Flux2Transformer2DModel
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
    )
    config = Mistral3Config(
        text_config={
            "model_type": "mistral",
            "vocab_size": 32000,
            "hidden_size": 16,
            "intermediate_size": 37,
            "max_position_embeddings": 512,
            "num_attention_heads": 4,
            "num_hidden_layers": 1,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-05,
            "rope_theta": 1000000000.0,
            "sliding_window": None,
            "bos_token_id": 2,
            "eos_token_id": 3,
            "pad_token_id": 4,
        },
        vision_config={
            "model_type": "pixtral",
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "image_size": 30,
            "patch_size": 6,
            "num_channels": 3,
        },
        vision_feature_layer=-1,
        image_token_index=1,
        # Accepted through **kwargs, so outside the typed signature.
        **_untyped(bos_token_id=2, eos_token_id=3, pad_token_id=4, image_seq_length=4),
    )
    torch.manual_seed(0)
    text_encoder = Mistral3ForConditionalGeneration(config)
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    pipe = Flux2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=mistral_tokenizer(),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
    return pipe


def tiny_qwen_edit_plus() -> Any:
    """QwenImageEditPlusPipeline with 2-layer random modules and a PIL-only Qwen2-VL processor."""
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = qwen_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    torch.manual_seed(0)
    z_dim = 4
    vae = AutoencoderKLQwenImage(
        base_dim=z_dim * 6,
        z_dim=z_dim,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
        },
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        # The tokenizer's own ids for the vision specials (§6.4 caveat a).
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        # Legacy top-level keys diffusers' tests pass, accepted through **kwargs.
        **_untyped(hidden_size=16, vocab_size=152064),
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    # Without torchvision there is no video processor; the class check would reject None.
    with mock.patch.object(Qwen2VLProcessor, "check_argument_for_proper_class", lambda self, name, arg: None):
        processor = Qwen2VLProcessor(
            image_processor=Qwen2VLImageProcessorPil(),
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=_QWEN_TEMPLATE,
        )
    pipe = QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
    return pipe


def shrink_edit_plus_sizes(monkeypatch: Any) -> None:
    """EditPlus resizes every picture to 1024² for the VAE and 384² for the VL encoder whatever the
    output size: a minute per call on CPU. Small areas keep the same code path (§6.5)."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as edit_plus

    monkeypatch.setattr(edit_plus, "VAE_IMAGE_SIZE", 64 * 64)
    monkeypatch.setattr(edit_plus, "CONDITION_IMAGE_SIZE", 56 * 56)
