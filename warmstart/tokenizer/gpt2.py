"""GPT2Tokenizer: GPT-2's byte-level BPE, as transformers' ``GPT2Tokenizer``, from tokenizer.json
or vocab.json and merges.txt."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as RustTokenizer
from tokenizers import decoders, pre_tokenizers, processors
from tokenizers.models import BPE

from ..hub import load_json
from .base import Tokenizer
from .files import TOKENIZER_FILE, _add_tokens, _added_tokens, _no_file_keywords

GPT2_DEFAULT_TOKEN = "<|endoftext|>"
BPE_VOCAB_FILE = "vocab.json"
BPE_MERGES_FILE = "merges.txt"


class GPT2Tokenizer(Tokenizer):
    """GPT-2's byte-level BPE, as transformers' ``GPT2Tokenizer`` (alias ``GPT2TokenizerFast``).

    Radford et al., 2019: text is split by GPT-2's regex into words that keep their leading space,
    each word's UTF-8 bytes are mapped to printable characters and merged by BPE; decoding maps them
    back. Like transformers, it takes the vocabulary, merges and added tokens from tokenizer.json (or
    vocab.json and merges.txt) and builds the rest from the settings: ``add_prefix_space`` (default
    False), ``add_bos_token``/``add_eos_token`` (default False), special tokens ``unk``/``bos``/
    ``eos`` = ``<|endoftext|>`` and no pad token (set ``tok.pad_token = tok.eos_token`` to pad).
    Built directly, ``vocab`` and ``merges`` are file paths, or a dict and a list of pairs.
    """

    tokenizer_class_name = "GPT2Tokenizer"
    own_settings = ("add_prefix_space", "add_bos_token", "add_eos_token")

    def __init__(
        self,
        vocab: Mapping[str, int] | str | os.PathLike | None = None,
        merges: Sequence[tuple[str, str] | str] | str | os.PathLike | None = None,
        *,
        added_tokens: Sequence[Mapping[str, Any]] = (),
        name_or_path: str = "",
        **config: Any,
    ):
        for name in ("unk_token", "bos_token", "eos_token"):
            if config.get(name) is None:
                config[name] = GPT2_DEFAULT_TOKEN
        if vocab is None and merges is None:
            _no_file_keywords(config, "vocab_file", "merges_file")
        paths = [isinstance(f, (str, os.PathLike)) for f in (vocab, merges)]
        if all(paths):
            vocab, merges = BPE.read_file(str(vocab), str(merges))
        elif any(paths):
            raise TypeError(
                "Pass GPT2Tokenizer's vocab and merges both as file paths (vocab.json, "
                "merges.txt), or as a dict and a list of pairs."
            )
        self.add_prefix_space = bool(config.get("add_prefix_space", False))
        self.add_bos_token = bool(config.get("add_bos_token", False))
        self.add_eos_token = bool(config.get("add_eos_token", False))
        model = BPE(
            dict(vocab or {}),
            [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges or []],
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
        )
        backend = RustTokenizer(model)
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=self.add_prefix_space)
        backend.decoder = decoders.ByteLevel()
        _add_tokens(backend, added_tokens)
        super().__init__(backend, name_or_path=name_or_path, **config)
        self._set_template()

    def _set_template(self) -> None:
        """bos/eos around each text when ``add_bos_token``/``add_eos_token`` say so."""
        bos = f"{self.bos_token}:{{}} " if self.add_bos_token else ""
        eos = f" {self.eos_token}:{{}}" if self.add_eos_token else ""
        single = f"{bos.format(0)}$A:0{eos.format(0)}"
        pair = f"{single} {bos.format(1)}$B:1{eos.format(1)}"
        used = [self.bos_token] * self.add_bos_token + [self.eos_token] * self.add_eos_token
        special = {token: self.convert_tokens_to_ids(token) for token in used}
        self._backend.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=list(special.items())
        )

    @classmethod
    def _from_folder(cls, folder: Path, config: dict[str, Any], name_or_path: str) -> GPT2Tokenizer:
        """From the folder's tokenizer.json, else its vocab.json and merges.txt."""
        vocab, merges, added = _bpe_vocab(folder)
        added = _added_tokens(config, added)
        return cls(vocab, merges, added_tokens=added, name_or_path=name_or_path, **config)


GPT2TokenizerFast = GPT2Tokenizer


def _bpe_vocab(folder: Path) -> tuple[dict[str, int], list, list[dict[str, Any]]]:
    """The BPE vocabulary, merges and added tokens of a GPT-2 style tokenizer folder."""
    path = folder / TOKENIZER_FILE
    if path.is_file():
        data = load_json(path)
        model = data.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise ValueError(
                f"{path} holds a {model.get('type')!r} model, not a BPE vocabulary; load it with "
                "AutoTokenizer instead of GPT2Tokenizer."
            )
        return model["vocab"], model["merges"], list(data.get("added_tokens") or [])
    vocab, merges = folder / BPE_VOCAB_FILE, folder / BPE_MERGES_FILE
    if vocab.is_file() and merges.is_file():
        return (*BPE.read_file(str(vocab), str(merges)), [])
    raise FileNotFoundError(
        f"No GPT-2 tokenizer in {folder}: looked for {TOKENIZER_FILE}, and for {BPE_VOCAB_FILE} "
        f"with {BPE_MERGES_FILE}."
    )
