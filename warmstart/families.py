"""The architecture families, one row per ``model_type``: the table every room, the configs, the key
maps and the lazy public names read. Framework-free: model class names are strings, each room finds
them in its own package (:func:`room_classes`)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import keys
from .config import (
    BartConfig,
    BertConfig,
    BertGenerationConfig,
    Config,
    ElectraConfig,
    GPT2Config,
    RemBertConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

SIDES = {"torch": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}
"""The rooms whose classes a row names (the ONNX room runs exported graphs, not families)."""

Names = tuple[str | None, str | None]  # (encoder class, decoder class); None: the side has none


@dataclass(frozen=True)
class Family:
    """One family.

    Attributes:
        config: its config class, whose ``model_type`` (that of its config.json) keys the row.
        module: the file ``models/<module>.py`` that defines its classes on every side.
        torch: its PyTorch class names; the TF ones are the same with ``TF`` in front, as in
            transformers.
        flax: its Flax class names; None where Flax lacks the family.
        layout: how its checkpoints name tensors.
        always_causal: the decoder's self-attention is causal whatever ``is_decoder`` says (GPT-2,
            BART's decoder), as in transformers.
        tied: the (PyTorch) names of the tensors that alias the word embeddings when tied.
    """

    config: type[Config]
    module: str
    torch: tuple[str, str]
    flax: Names | None
    layout: keys.KeyLayout
    always_causal: bool = False
    tied: tuple[str, ...] = ()

    @property
    def model_type(self) -> str:
        return self.config.model_type

    def names(self, side: str) -> Names | None:
        """``side``'s (encoder, decoder) class names, None where it lacks the family."""
        if side == "tf":
            return tuple(f"TF{name}" for name in self.torch)
        return getattr(self, side)


FAMILIES: dict[str, Family] = {row.model_type: row for row in (
    Family(BertConfig, "bert", ("BertModel", "BertLMHeadModel"),
           ("FlaxBertModel", "FlaxBertForCausalLM"), keys.BERT,
           tied=("cls.predictions.decoder.weight",)),
    Family(BertGenerationConfig, "bert_generation",
           ("BertGenerationEncoder", "BertGenerationDecoder"),
           ("FlaxBertGenerationEncoder", "FlaxBertGenerationDecoder"), keys.BERT_GENERATION,
           tied=("lm_head.decoder.weight",)),
    Family(RobertaConfig, "roberta", ("RobertaModel", "RobertaForCausalLM"),
           ("FlaxRobertaModel", "FlaxRobertaForCausalLM"), keys.ROBERTA,
           tied=("lm_head.decoder.weight",)),
    # the RoBERTa classes on PyTorch and TF (transformers' XLMRoberta* only rename them)
    Family(XLMRobertaConfig, "roberta", ("RobertaModel", "RobertaForCausalLM"),
           ("FlaxXLMRobertaModel", "FlaxXLMRobertaForCausalLM"), keys.ROBERTA,
           tied=("lm_head.decoder.weight",)),
    Family(ElectraConfig, "electra", ("ElectraModel", "ElectraForCausalLM"),
           ("FlaxElectraModel", "FlaxElectraForCausalLM"), keys.ELECTRA,
           tied=("generator_lm_head.weight",)),
    # never tied: the head's output_embedding_size rows are not the input embeddings
    Family(RemBertConfig, "rembert", ("RemBertModel", "RemBertForCausalLM"), None, keys.REMBERT),
    Family(GPT2Config, "gpt2", ("GPT2Model", "GPT2LMHeadModel"), (None, "FlaxGPT2LMHeadModel"),
           keys.GPT2, always_causal=True, tied=("lm_head.weight",)),
    Family(BartConfig, "bart", ("BartModel", "BartForCausalLM"),
           ("FlaxBartModel", "FlaxBartForCausalLM"), keys.BART, always_causal=True,
           tied=("lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")),
)}  # fmt: skip
"""model_type -> its family."""


def family(model_type: str, side: str) -> Family:
    """The family of ``model_type``, checked to have classes on ``side``.

    Raises:
        ValueError: the model_type is no family, or ``side`` lacks it (naming the sides that have it).
    """
    row = FAMILIES.get(model_type)
    if row is None:
        raise ValueError(
            f"model_type {model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    if row.names(side) is None:
        have = ", ".join(name for s, name in SIDES.items() if row.names(s) is not None)
        raise ValueError(
            f"model_type {model_type!r} has no {SIDES[side]} classes; it is on: {have}."
        )
    return row


def public_names(side: str) -> list[str]:
    """Every public class name the table gives ``side``, each once, in table order."""
    found = (row.names(side) or () for row in FAMILIES.values())
    return list(dict.fromkeys(name for names in found for name in names if name is not None))


def supported_families() -> str:
    """One sentence naming the encoders and the decoders this library can compose."""
    names = ", ".join(sorted(FAMILIES))
    return (
        f"Supported encoders: {names}. Supported decoders (causal LMs with cross-attention): "
        f"{names}. Decoder-only models without cross-attention (llama, mistral, opt, gpt-neo, ...) "
        "cannot read an encoder's output and cannot be used as the decoder."
    )


class Classes(NamedTuple):
    """One family's classes on one side."""

    encoder: Any  # the bare model (AutoModel's class); None where the side only decodes the family
    decoder: Any  # the causal LM (AutoModelForCausalLM's class)


def room_classes(side: str, package: str) -> dict[str, Classes]:
    """model_type -> ``side``'s classes of each family it has, found in ``<package>.models.<module>``
    (a room's table; importing them imports that room's framework)."""
    out = {}
    for row in FAMILIES.values():
        names = row.names(side)
        if names is not None:
            module = importlib.import_module(f"{package}.models.{row.module}")
            out[row.model_type] = Classes(
                *(None if n is None else getattr(module, n) for n in names)
            )
    return out


def by_name(table: dict[str, Classes]) -> dict[str, type]:
    """Public name -> class, every family's in a room's ``table`` (the names the table gives it)."""
    return {cls.__name__: cls for classes in table.values() for cls in classes if cls is not None}
