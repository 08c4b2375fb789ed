"""Architecture families, looked up by ``model_type``: which module encodes, which decodes, and how a
family's checkpoint keys map onto those modules (and back, when saving)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from ..config import Config, supported_families
from . import bart, bert, electra, gpt2, roberta


def _same_keys(state: dict[str, Tensor], as_decoder: bool) -> dict[str, Tensor]:
    return state


@dataclass(frozen=True)
class Family:
    encoder: type[nn.Module]
    decoder: type[nn.Module]
    fix_keys: Callable[[dict[str, Tensor], bool], tuple[dict[str, Tensor], list[str]]]
    # this library's state -> transformers' tensor layout, for saving (GPT-2's Conv1D transpose, an
    # untied BERT/RoBERTa head's second bias name)
    to_hf_keys: Callable[[dict[str, Tensor], bool], dict[str, Tensor]] = _same_keys


_ROBERTA = Family(
    roberta.RobertaModel, roberta.RobertaForCausalLM, roberta.fix_keys, roberta.to_hf_keys
)

FAMILIES: dict[str, Family] = {
    "bart": Family(bart.BartModel, bart.BartForCausalLM, bart.fix_keys),
    "bert": Family(bert.BertModel, bert.BertLMHeadModel, bert.fix_keys, bert.to_hf_keys),
    "electra": Family(electra.ElectraModel, electra.ElectraForCausalLM, electra.fix_keys),
    "gpt2": Family(gpt2.GPT2Model, gpt2.GPT2LMHeadModel, gpt2.fix_keys, gpt2.to_hf_keys),
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
}


def family(config: Config) -> Family:
    if config.model_type not in FAMILIES:
        raise ValueError(
            f"model_type {config.model_type!r} is not supported as an encoder or decoder. "
            f"{supported_families()}"
        )
    return FAMILIES[config.model_type]
