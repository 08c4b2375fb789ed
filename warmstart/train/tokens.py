"""The special tokens a seq2seq model needs, taken from its tokenizer, for every framework."""

from __future__ import annotations

from typing import Any


def configure_special_tokens(model: Any, tokenizer: Any) -> None:
    """Set decoder start (cls, else bos), pad and eos (sep, else eos) on ``model.config`` when unset.

    Raises:
        ValueError: the tokenizer has no token to use for one of them.
    """
    c = model.config
    choices = {
        "decoder_start_token_id": (tokenizer.cls_token_id, tokenizer.bos_token_id),
        "eos_token_id": (tokenizer.sep_token_id, tokenizer.eos_token_id),
        "pad_token_id": (tokenizer.pad_token_id, tokenizer.eos_token_id),
    }
    for name, candidates in choices.items():
        if getattr(c, name, None) is None:
            setattr(c, name, next((i for i in candidates if i is not None), None))
        if getattr(c, name) is None:
            raise ValueError(f"The tokenizer has no token for {name}; set model.config.{name}.")
