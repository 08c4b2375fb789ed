"""BertGenerationTokenizer: the SentencePiece tokenizer of Rothe et al.'s released checkpoints, as
transformers' ``BertGenerationTokenizer``, from ``spiece.model`` through the ``tokenizers`` library
(:mod:`.spm`; the ``sentencepiece`` package is not needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken

from .base import Tokenizer
from .files import _add_tokens, _added_tokens
from .spm import SPIECE_FILE, read_spm_file, special_pieces, spm_backend

BERT_GENERATION_DEFAULT_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "sep_token": "<::::>",
}


class BertGenerationTokenizer(Tokenizer):
    """A SentencePiece unigram tokenizer, as transformers' ``BertGenerationTokenizer``.

    Text is normalised and split into pieces as ``SentencePieceProcessor.encode`` does; no special
    tokens are added around it. Special tokens default to ``<s>``, ``</s>``, ``<unk>``, ``<pad>``
    and ``<::::>`` (sep). ``vocab_file`` is the ``spiece.model`` path (or its bytes);
    ``save_pretrained`` writes it next to tokenizer.json, so transformers' class loads the folder.
    """

    tokenizer_class_name = "BertGenerationTokenizer"

    def __init__(
        self,
        vocab_file: str | os.PathLike | bytes,
        *,
        added_tokens: Sequence[Mapping[str, Any]] = (),
        name_or_path: str = "",
        **config: Any,
    ):
        for name, default in BERT_GENERATION_DEFAULT_TOKENS.items():
            if config.get(name) is None:
                config[name] = default
        self._spm_bytes, model = read_spm_file(vocab_file)
        backend = spm_backend(model)
        special = [AddedToken(p, special=True, normalized=False) for p in special_pieces(model)]
        backend.add_special_tokens(special)
        _add_tokens(backend, added_tokens)
        super().__init__(backend, name_or_path=name_or_path, **config)

    @classmethod
    def _from_folder(
        cls, folder: Path, config: dict[str, Any], name_or_path: str
    ) -> BertGenerationTokenizer:
        """From the folder's ``spiece.model``."""
        path = folder / SPIECE_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"No {SPIECE_FILE} in {folder}; BertGenerationTokenizer needs the SentencePiece "
                "model (AutoTokenizer reads a tokenizer.json instead)."
            )
        added = _added_tokens(config, [])
        return cls(path, added_tokens=added, name_or_path=name_or_path, **config)

    def _decode(self, ids: Any, skip_special_tokens: bool, clean_up: bool | None) -> str:
        # transformers' class also strips the text's end: pieces "▁a", "▁" decode to "a"
        return super()._decode(ids, skip_special_tokens, clean_up).rstrip()

    def _model_files(self) -> dict[str, str | bytes]:
        """``spiece.model``, which transformers' class reads."""
        return {SPIECE_FILE: self._spm_bytes}
