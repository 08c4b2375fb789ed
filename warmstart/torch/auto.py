"""transformers' ``AutoModel``, ``AutoModelForCausalLM`` and ``AutoModelForSeq2SeqLM`` over the
PyTorch families (the lookup is the core's :class:`warmstart.auto.AutoClass`)."""

from __future__ import annotations

from ..auto import AutoClass
from .encoder_decoder import EncoderDecoderModel
from .families import family


class _Auto(AutoClass):
    composite = EncoderDecoderModel
    family = staticmethod(family)


class AutoModel(_Auto):
    """The encoder class of a checkpoint's family (``BertModel``, ``GPT2Model``, ...)."""

    role = "encoder"


class AutoModelForCausalLM(_Auto):
    """The decoder class of a checkpoint's family (``BertLMHeadModel``, ``GPT2LMHeadModel``, ...);
    pass ``is_decoder=True, add_cross_attention=True`` to make it a decoder for an encoder-decoder."""

    role = "decoder"


class AutoModelForSeq2SeqLM(_Auto):
    """``EncoderDecoderModel`` for an ``encoder-decoder`` checkpoint."""

    role = "seq2seq"
