"""The JAX/Flax side: transformers 4.x's Flax classes (``FlaxEncoderDecoderModel``,
``FlaxBertModel``, ``FlaxBertForCausalLM``, ...) over the framework-free core. Imports jax and flax,
never torch. The family classes, defined in ``models/<family>.py``, are exported under the names of
the core's table (:mod:`warmstart.families`)."""

from .encoder_decoder import FlaxEncoderDecoderModel, FlaxSeq2SeqLMOutput, shift_tokens_right
from .families import CLASSES
from .generation import FlaxGenerateOutput
from .pretrained import FlaxCausalLMOutput

globals().update(CLASSES)

__all__ = [
    "FlaxCausalLMOutput",
    "FlaxEncoderDecoderModel",
    "FlaxGenerateOutput",
    "FlaxSeq2SeqLMOutput",
    "shift_tokens_right",
    *CLASSES,
]
