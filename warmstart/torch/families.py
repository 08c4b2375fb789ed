"""The PyTorch classes of each family, looked up by ``model_type``: the core's table
(:mod:`warmstart.families`) names them; this module finds them in ``models/<module>.py``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from torch import nn

from .. import families
from ..config import Config


@dataclass(frozen=True)
class Family:
    encoder: type[nn.Module]  # the bare model (AutoModel's class)
    decoder: type[nn.Module]  # the causal LM (AutoModelForCausalLM's class)
    always_causal: bool = False  # the core's flag: causal whatever is_decoder says (GPT-2, BART)


def _classes(row: families.Family) -> Family:
    module = importlib.import_module(f"{__package__}.models.{row.module}")
    return Family(*(getattr(module, name) for name in row.torch), row.always_causal)


FAMILIES: dict[str, Family] = {t: _classes(row) for t, row in families.FAMILIES.items()}
"""model_type -> its encoder and decoder classes, and whether the decoder is always causal."""

CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls for fam in FAMILIES.values() for cls in (fam.encoder, fam.decoder)
}
"""Public name -> class, every family's (the names the core's table gives this side)."""


def family(config: Config) -> Family:
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
    if not (config.is_decoder or family(config).always_causal):
        raise ValueError(
            f"The decoder ({type(decoder).__name__}) has cross-attention but is_decoder=False, so "
            "its self-attention would see future tokens. Build it with is_decoder=True."
        )
