"""transformers 4.x's ``TFAutoModel``, ``TFAutoModelForCausalLM`` and ``TFAutoModelForSeq2SeqLM``
over the TensorFlow families (the lookup is the core's :class:`warmstart.auto.AutoClass`)."""

from __future__ import annotations

from ..auto import AutoClass
from .encoder_decoder import TFEncoderDecoderModel
from .families import family


class _TFAuto(AutoClass):
    composite = TFEncoderDecoderModel
    family = staticmethod(family)
    prefix = "TF"


class TFAutoModel(_TFAuto):
    """An encoder (``TFBertModel``, ``TFRobertaModel``, ...) by model_type."""

    role = "encoder"


class TFAutoModelForCausalLM(_TFAuto):
    """A decoder (``TFBertLMHeadModel``, ``TFGPT2LMHeadModel``, ...) by model_type."""

    role = "decoder"


class TFAutoModelForSeq2SeqLM(_TFAuto):
    """A ``TFEncoderDecoderModel`` from an encoder-decoder checkpoint."""

    role = "seq2seq"
