"""warmstart: sequence-to-sequence models warm-started from pretrained checkpoints.

The public names keep transformers' spelling, so code ports by changing the import. ``import
warmstart`` imports no framework: configs, tokenizers and generation settings are the framework-free
core; the models resolve on first use from their framework's side (PEP 562 ``__getattr__``):
``EncoderDecoderModel`` and the other PyTorch classes from :mod:`warmstart.torch`, the ``TF*`` classes
from :mod:`warmstart.tf`, the ``Flax*`` classes from :mod:`warmstart.flax`. The family classes' names
on each side come from the core's family table (:mod:`warmstart.families`).
"""

from __future__ import annotations

import importlib
from typing import Any

from . import families
from .config import (
    AutoConfig,
    BartConfig,
    BertConfig,
    BertGenerationConfig,
    Config,
    ElectraConfig,
    EncoderDecoderConfig,
    GPT2Config,
    RemBertConfig,
    RobertaConfig,
    XLMRobertaConfig,
)
from .generation import GenerationConfig
from .tokenizer import (
    AutoTokenizer,
    BatchEncoding,
    BertGenerationTokenizer,
    BertTokenizer,
    BertTokenizerFast,
    GPT2Tokenizer,
    GPT2TokenizerFast,
    RemBertTokenizer,
    RemBertTokenizerFast,
    Tokenizer,
    load_tokenizers,
    save_tokenizers,
)

# framework side -> (the module that holds it, the imports a user may lack, the extra that installs them)
_SIDES = {
    "torch": ("warmstart.torch", ("torch",), "torch"),
    "tf": ("warmstart.tf", ("tensorflow", "keras"), "tf"),
    "flax": ("warmstart.flax", ("jax", "jaxlib", "flax", "optax"), "flax"),
}

_OTHER_NAMES: dict[str, tuple[str, ...]] = {
    "torch": ("AutoModel", "AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "EncoderDecoderModel",
              "GenerateOutput", "Seq2SeqLMOutput", "shift_tokens_right"),
    "tf": ("TFAutoModel", "TFAutoModelForCausalLM", "TFAutoModelForSeq2SeqLM",
           "TFEncoderDecoderModel", "TFSeq2SeqLMOutput"),
    "flax": ("FlaxEncoderDecoderModel",),
}  # fmt: skip
"""Each side's public names besides its family classes: the composite, Auto classes, outputs."""

_LAZY: dict[str, str] = {
    name: side
    for side in families.SIDES
    for name in sorted((*_OTHER_NAMES[side], *families.public_names(side)))
}
"""Public name -> the framework side that defines it: the core's family table (its class names on
each side) and the names above."""


def import_side(side: str, wanted_by: str) -> Any:
    """The framework side ``side`` (``"torch"``, ``"tf"``, ``"flax"``), imported.

    Raises:
        ImportError: its framework is not installed; one line naming ``wanted_by`` and the extra
            that installs it.
    """
    module_name, packages, extra = _SIDES[side]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        package = (err.name or "").split(".")[0]
        if package not in packages:
            raise
        raise ImportError(
            f'{wanted_by} needs {package}, which is not installed: pip install "warmstart[{extra}]"'
        ) from None


def __getattr__(name: str) -> Any:
    side = _LAZY.get(name)
    if side is None:
        raise AttributeError(f"module 'warmstart' has no attribute {name!r}")
    module = import_side(side, f"warmstart.{name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AutoConfig",
    "AutoTokenizer",
    "BartConfig",
    "BatchEncoding",
    "BertConfig",
    "BertGenerationConfig",
    "BertGenerationTokenizer",
    "BertTokenizer",
    "BertTokenizerFast",
    "Config",
    "ElectraConfig",
    "EncoderDecoderConfig",
    "GPT2Config",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "GenerationConfig",
    "RemBertConfig",
    "RemBertTokenizer",
    "RemBertTokenizerFast",
    "RobertaConfig",
    "Tokenizer",
    "XLMRobertaConfig",
    "load_tokenizers",
    "save_tokenizers",
    *_LAZY,
]
