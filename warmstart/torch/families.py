"""The PyTorch classes of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names them; this room defines them in ``models/<module>.py``."""

from __future__ import annotations

from torch import nn

from .. import families
from ..config import Config

FAMILIES: dict[str, families.Classes] = families.room_classes("torch", __package__)
"""model_type -> its encoder class (AutoModel's) and decoder class (AutoModelForCausalLM's)."""

CLASSES: dict[str, type[nn.Module]] = families.by_name(FAMILIES)
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> families.Classes:
    """The classes of ``config``'s model_type.

    Raises:
        ValueError: the model_type is no family (the message lists those supported).
    """
    return FAMILIES[families.family(config.model_type, "torch").model_type]


CROSS_ATTENTION_NAMES = ("crossattention", "encoder_attn")
"""The module names of a layer's cross-attention in every family (transformers' names)."""


def check_decoder(decoder: nn.Module) -> None:
    """Check that ``decoder`` can be the decoder of an encoder-decoder: it has cross-attention
    layers and causal self-attention.

    Raises:
        ValueError: what it lacks, and the config fields that build it.
    """
    config = decoder.config
    names = (name.rpartition(".")[2] for name, _ in decoder.named_modules())
    if not any(name in CROSS_ATTENTION_NAMES for name in names):
        raise ValueError(
            f"The decoder ({type(decoder).__name__}) has no cross-attention layers, so it cannot "
            "read the encoder: build it with add_cross_attention=True (and is_decoder=True), as "
            "from_encoder_decoder_configs and from_encoder_decoder_pretrained do."
        )
    if not (config.is_decoder or families.FAMILIES[config.model_type].always_causal):
        raise ValueError(
            f"The decoder ({type(decoder).__name__}) has cross-attention but is_decoder=False, so "
            "its self-attention would see future tokens. Build it with is_decoder=True."
        )
