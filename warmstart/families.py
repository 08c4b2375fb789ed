"""The architecture families, one row per ``model_type``: the table every room and the lazy public
names read. Framework-free: class names are strings; each room looks them up in its own package.

Adding a family: one row here (with its layout in :mod:`warmstart.keys` and its config class in
:mod:`warmstart.config`), and in each room that has it the classes the row names, defined in
``models/<module>.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .config import supported_families

SIDES = ("torch", "tf", "flax")
"""The rooms whose classes a row names (the ONNX room runs exported graphs, not families)."""

SIDE_NAMES = {"torch": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


@dataclass(frozen=True)
class Classes:
    """One side's public class names of a family; None where the side has no such class."""

    encoder: str | None  # the bare model (AutoModel's class)
    decoder: str | None  # the causal LM (AutoModelForCausalLM's class)


@dataclass(frozen=True)
class Family:
    """One family.

    Attributes:
        model_type: the ``model_type`` of its config.json.
        module: the file ``models/<module>.py`` that defines its classes in the PyTorch and TF
            rooms.
        torch, tf, flax: that side's class names; None where the side lacks the family.
        layout: how its checkpoints name tensors (:mod:`warmstart.keys`).
        always_causal: the decoder's self-attention is causal whatever ``is_decoder`` says (GPT-2,
            BART's decoder), as in transformers.
        tied: the (PyTorch) names of the tensors that alias the word embeddings when tied.
    """

    model_type: str
    module: str
    torch: Classes | None
    tf: Classes | None
    flax: Classes | None
    layout: keys.KeyLayout
    always_causal: bool = False
    tied: tuple[str, ...] = ()

    def classes(self, side: str) -> Classes | None:
        """``side``'s class names (``"torch"``, ``"tf"``, ``"flax"``), None where it lacks them."""
        return getattr(self, side)


def _row(
    model_type: str,
    module: str,
    torch: tuple[str, str],
    flax: tuple[str | None, str] | None,
    layout: keys.KeyLayout,
    always_causal: bool = False,
    tied: tuple[str, ...] = (),
) -> Family:
    """A row whose TF names are the PyTorch ones with ``TF`` in front, as in transformers."""
    return Family(
        model_type,
        module,
        Classes(*torch),
        Classes(*(f"TF{name}" for name in torch)),
        None if flax is None else Classes(*flax),
        layout,
        always_causal,
        tied,
    )


_ROWS = (
    _row("bert", module="bert", torch=("BertModel", "BertLMHeadModel"),
         flax=("FlaxBertModel", "FlaxBertForCausalLM"), layout=keys.BERT,
         tied=("cls.predictions.decoder.weight",)),
    _row("bert-generation", module="bert_generation",
         torch=("BertGenerationEncoder", "BertGenerationDecoder"),
         flax=("FlaxBertGenerationEncoder", "FlaxBertGenerationDecoder"),
         layout=keys.BERT_GENERATION, tied=("lm_head.decoder.weight",)),
    _row("roberta", module="roberta", torch=("RobertaModel", "RobertaForCausalLM"),
         flax=("FlaxRobertaModel", "FlaxRobertaForCausalLM"), layout=keys.ROBERTA,
         tied=("lm_head.decoder.weight",)),
    # the RoBERTa classes on PyTorch and TF (transformers' XLMRoberta* only rename them)
    _row("xlm-roberta", module="roberta", torch=("RobertaModel", "RobertaForCausalLM"),
         flax=("FlaxXLMRobertaModel", "FlaxXLMRobertaForCausalLM"), layout=keys.ROBERTA,
         tied=("lm_head.decoder.weight",)),
    _row("electra", module="electra", torch=("ElectraModel", "ElectraForCausalLM"),
         flax=("FlaxElectraModel", "FlaxElectraForCausalLM"), layout=keys.ELECTRA,
         tied=("generator_lm_head.weight",)),
    # no Flax; never tied: the head's output_embedding_size rows are not the input embeddings
    _row("rembert", module="rembert", torch=("RemBertModel", "RemBertForCausalLM"),
         flax=None, layout=keys.REMBERT),
    # Flax: a decoder only
    _row("gpt2", module="gpt2", torch=("GPT2Model", "GPT2LMHeadModel"),
         flax=(None, "FlaxGPT2LMHeadModel"), layout=keys.GPT2, always_causal=True,
         tied=("lm_head.weight",)),
    _row("bart", module="bart", torch=("BartModel", "BartForCausalLM"),
         flax=("FlaxBartModel", "FlaxBartForCausalLM"), layout=keys.BART, always_causal=True,
         tied=("lm_head.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")),
)  # fmt: skip

FAMILIES: dict[str, Family] = {row.model_type: row for row in _ROWS}
"""model_type -> its family."""


def family(model_type: str, side: str) -> Family:
    """The family of ``model_type``, checked to have classes on ``side``.

    Raises:
        ValueError: the model_type is no family, or ``side`` lacks it (the message names the sides
            that have it).
    """
    row = FAMILIES.get(model_type)
    if row is None:
        raise ValueError(
            f"model_type {model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    if row.classes(side) is None:
        have = ", ".join(SIDE_NAMES[s] for s in SIDES if row.classes(s) is not None)
        raise ValueError(
            f"model_type {model_type!r} has no {SIDE_NAMES[side]} classes; it is on: {have}."
        )
    return row


def public_names(side: str) -> list[str]:
    """Every public class name the table gives ``side``, each once, in table order."""
    names: dict[str, None] = {}
    for row in _ROWS:
        classes = row.classes(side)
        if classes is not None:
            names.update((n, None) for n in (classes.encoder, classes.decoder) if n is not None)
    return list(names)
