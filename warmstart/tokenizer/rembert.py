"""RemBertTokenizer: RemBERT's SentencePiece tokenizer, as transformers' ``RemBertTokenizerFast``
(4.x; ``RemBertTokenizer`` in 5.x), from ``sentencepiece.model`` (read by :mod:`.spm`, without the
``sentencepiece`` package) or from a ``tokenizer.json``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, normalizers, pre_tokenizers
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import Unigram

from .base import Tokenizer
from .bert import set_bert_template
from .files import TOKENIZER_FILE, _add_tokens, _added_tokens, _token_text
from .spm import CONTROL, UNIGRAM, USER_DEFINED, SentencePieceModel, read_spm_file

REMBERT_SPM_FILE = "sentencepiece.model"
REMBERT_DEFAULT_TOKENS = {
    "bos_token": "[CLS]",
    "eos_token": "[SEP]",
    "unk_token": "<unk>",
    "sep_token": "[SEP]",
    "pad_token": "<pad>",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


class RemBertTokenizer(Tokenizer):
    """RemBERT's tokenizer (alias ``RemBertTokenizerFast``): a SentencePiece unigram model run as
    transformers' fast class runs it, ``[CLS] A [SEP]`` (pairs: ``[CLS] A [SEP] B [SEP]``).

    From ``vocab_file`` (``sentencepiece.model``, a path or its bytes) the pipeline is the one
    transformers converts that file to: ``````/``''`` read as ``"``, runs of spaces as one; accents
    removed unless ``keep_accents`` (default True); lower case with ``do_lower_case`` (default
    False); the model's precompiled normalisation; ``▁`` for spaces and in front of the text. From
    ``tokenizer_file`` (a ``tokenizer.json``) the pipeline is read as written. Special tokens
    default to ``[CLS]`` (cls, bos), ``[SEP]`` (sep, eos), ``<unk>``, ``<pad>`` and ``[MASK]``,
    which takes the space before it, as in transformers 4.x (a ``tokenizer.json`` keeps its own).
    """

    tokenizer_class_name = "RemBertTokenizer"
    model_input_names: list[str] = ["input_ids", "token_type_ids", "attention_mask"]  # noqa: RUF012
    own_settings = ("do_lower_case", "keep_accents", "remove_space")

    def __init__(
        self,
        vocab_file: str | os.PathLike | bytes | None = None,
        *,
        tokenizer_file: str | os.PathLike | None = None,
        added_tokens: Sequence[Mapping[str, Any]] = (),
        name_or_path: str = "",
        **config: Any,
    ):
        for name, default in REMBERT_DEFAULT_TOKENS.items():
            if config.get(name) is None:
                config[name] = default
        self.do_lower_case = bool(config.get("do_lower_case", False))
        self.keep_accents = bool(config.get("keep_accents", True))
        self.remove_space = bool(config.get("remove_space", True))
        self._spm_bytes: bytes | None = None
        if tokenizer_file is not None:
            backend = RustTokenizer.from_file(str(tokenizer_file))
        elif vocab_file is not None:
            self._spm_bytes, model = read_spm_file(vocab_file)
            backend = rembert_backend(model, self.do_lower_case, self.keep_accents)
            mask = _token_text(config["mask_token"])  # matched with the space before it
            backend.add_special_tokens(
                [AddedToken(mask, lstrip=True, normalized=False, special=True)]
            )
        else:
            raise ValueError(
                f"RemBertTokenizer needs vocab_file (the {REMBERT_SPM_FILE} path) or "
                f"tokenizer_file (a {TOKENIZER_FILE}); or use RemBertTokenizer.from_pretrained."
            )
        _add_tokens(backend, added_tokens)
        super().__init__(backend, name_or_path=name_or_path, **config)
        if tokenizer_file is None:
            set_bert_template(self)  # a tokenizer.json brings its own

    @classmethod
    def _from_folder(
        cls, folder: Path, config: dict[str, Any], name_or_path: str
    ) -> RemBertTokenizer:
        """From the folder's ``tokenizer.json`` when there is one (as transformers' fast class),
        else its ``sentencepiece.model``."""
        if (folder / TOKENIZER_FILE).is_file():
            return cls(tokenizer_file=folder / TOKENIZER_FILE, name_or_path=name_or_path, **config)
        path = folder / REMBERT_SPM_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"No {TOKENIZER_FILE} or {REMBERT_SPM_FILE} in {folder}; RemBertTokenizer needs "
                "one of them."
            )
        added = _added_tokens(config, [])
        return cls(path, added_tokens=added, name_or_path=name_or_path, **config)

    def _model_files(self) -> dict[str, str | bytes]:
        """``sentencepiece.model`` when built from one (a tokenizer.json holds the rest)."""
        return {} if self._spm_bytes is None else {REMBERT_SPM_FILE: self._spm_bytes}


RemBertTokenizerFast = RemBertTokenizer


def rembert_backend(
    model: SentencePieceModel, do_lower_case: bool = False, keep_accents: bool = True
) -> RustTokenizer:
    """The ``tokenizers`` pipeline transformers converts a RemBERT ``sentencepiece.model`` to:
    the unigram model over the pieces' scores, control pieces as special tokens and user-defined
    ones as added tokens, RemBERT's normalisation, ``▁`` for spaces and in front of every text.

    Raises:
        ValueError: the model is not a unigram model.
    """
    if model.model_type != UNIGRAM:
        raise ValueError(
            "This SentencePiece model is not a unigram model; RemBertTokenizer reads unigram "
            "models only. Load a tokenizer.json instead."
        )
    vocab = [(piece, score) for piece, score, _ in model.pieces]
    backend = RustTokenizer(Unigram(vocab, model.unk_id, False))
    backend.add_tokens(
        [
            AddedToken(piece, normalized=False, special=kind == CONTROL)
            for piece, _, kind in model.pieces
            if kind in (CONTROL, USER_DEFINED)
        ]
    )
    steps = [
        normalizers.Replace("``", '"'),
        normalizers.Replace("''", '"'),
        normalizers.Replace(Regex(" {2,}"), " "),
    ]
    if not keep_accents:
        steps += [normalizers.NFKD(), normalizers.StripAccents()]
    if do_lower_case:
        steps.append(normalizers.Lowercase())
    if model.precompiled_charsmap:
        steps.append(normalizers.Precompiled(model.precompiled_charsmap))
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return backend
