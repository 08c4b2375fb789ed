"""BertTokenizer: BERT's WordPiece tokenizer, as transformers' ``BertTokenizer``, from
tokenizer.json or vocab.txt."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from ..hub import load_json
from .base import Tokenizer
from .files import (
    TOKENIZER_FILE,
    VOCAB_FILE,
    _add_tokens,
    _added_tokens,
    _no_file_keywords,
    _token_text,
)

BERT_DEFAULT_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


class BertTokenizer(Tokenizer):
    """BERT's WordPiece tokenizer, as transformers' ``BertTokenizer`` (alias ``BertTokenizerFast``).

    Like transformers, it takes only the vocabulary (and added tokens) from tokenizer.json and
    builds the rest from the settings: ``do_lower_case`` (default True), ``strip_accents``
    (default: follow ``do_lower_case``), ``tokenize_chinese_chars`` (default True), and the
    special tokens (defaults ``[UNK]``, ``[SEP]``, ``[PAD]``, ``[CLS]``, ``[MASK]``). Built
    directly, ``vocab`` is a vocab.txt path or a dict (default: the special tokens alone).
    """

    tokenizer_class_name = "BertTokenizer"
    model_input_names: list[str] = ["input_ids", "token_type_ids", "attention_mask"]  # noqa: RUF012
    own_settings = ("do_lower_case", "strip_accents", "tokenize_chinese_chars")

    def __init__(
        self,
        vocab: Mapping[str, int] | str | os.PathLike | None = None,
        *,
        added_tokens: Sequence[Mapping[str, Any]] = (),
        name_or_path: str = "",
        **config: Any,
    ):
        for name, default in BERT_DEFAULT_TOKENS.items():
            if config.get(name) is None:
                config[name] = default
        if vocab is None:  # transformers' default: the special tokens alone
            _no_file_keywords(config, "vocab_file")
            names = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
            vocab = {_token_text(config[name]): i for i, name in enumerate(names)}
        elif not isinstance(vocab, Mapping):
            vocab = WordPiece.read_file(str(vocab))
        self.do_lower_case = bool(config.get("do_lower_case", True))
        self.tokenize_chinese_chars = bool(config.get("tokenize_chinese_chars", True))
        self.strip_accents = config.get("strip_accents")
        backend = RustTokenizer(WordPiece(dict(vocab), unk_token=_token_text(config["unk_token"])))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents,
            lowercase=self.do_lower_case,
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece(prefix="##")
        _add_tokens(backend, added_tokens)
        super().__init__(backend, name_or_path=name_or_path, **config)
        set_bert_template(self)

    @classmethod
    def _from_folder(cls, folder: Path, config: dict[str, Any], name_or_path: str) -> BertTokenizer:
        """From the folder's tokenizer.json (its vocabulary and added tokens), else vocab.txt."""
        vocab, added = _bert_vocab(folder)
        added = _added_tokens(config, added)
        return cls(vocab, added_tokens=added, name_or_path=name_or_path, **config)


BertTokenizerFast = BertTokenizer


def _bert_vocab(folder: Path) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The WordPiece vocabulary and the added tokens of a BERT tokenizer folder."""
    path = folder / TOKENIZER_FILE
    if path.is_file():
        data = load_json(path)
        model = data.get("model") or {}
        if model.get("type", "WordPiece") != "WordPiece" or not isinstance(
            model.get("vocab"), dict
        ):
            raise ValueError(
                f"{path} holds a {model.get('type')!r} model, not a WordPiece vocabulary; "
                "load it with AutoTokenizer instead of BertTokenizer."
            )
        return model["vocab"], list(data.get("added_tokens") or [])
    path = folder / VOCAB_FILE
    if path.is_file():
        return WordPiece.read_file(str(path)), []
    raise FileNotFoundError(
        f"No BERT tokenizer in {folder}: looked for {TOKENIZER_FILE} and {VOCAB_FILE}."
    )


def set_bert_template(tokenizer: Tokenizer) -> None:
    """BERT's special tokens around one text (``[CLS] A [SEP]``) or a pair (``[CLS] A [SEP] B
    [SEP]``, token types 0 then 1), with ``tokenizer``'s own cls and sep tokens."""
    cls, sep = tokenizer.cls_token, tokenizer.sep_token
    tokenizer._backend.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0",
        pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, tokenizer.cls_token_id), (sep, tokenizer.sep_token_id)],
    )
