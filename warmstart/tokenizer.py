"""Text to token ids and back, the way transformers' tokenizers do it.

A thin layer over Hugging Face ``tokenizers`` (the Rust library). :class:`BertTokenizer` follows
transformers' ``BertTokenizer``: the WordPiece vocabulary comes from ``tokenizer.json`` (or
``vocab.txt``) and the normalisation from ``tokenizer_config.json``. :class:`GPT2Tokenizer` is GPT-2's
byte-level BPE (``tokenizer.json``, or ``vocab.json`` and ``merges.txt``). :class:`Tokenizer` runs any
``tokenizer.json`` as written. :class:`AutoTokenizer` picks between them. :func:`save_tokenizers` and
:func:`load_tokenizers` keep an encoder's and a decoder's tokenizers with a model folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import BPE, WordPiece

from warmstart.hub import load_json, resolve

logger = logging.getLogger(__name__)

VERY_LARGE_INTEGER = int(1e30)  # transformers' model_max_length when none is configured
LARGE_INTEGER = int(1e20)
TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
BERT_CLASSES = ("BertTokenizer", "BertTokenizerFast")
BERT_MODEL_TYPES = ("bert",)
GPT2_CLASSES = ("GPT2Tokenizer", "GPT2TokenizerFast")
GPT2_MODEL_TYPES = ("gpt2",)
GPT2_DEFAULT_TOKEN = "<|endoftext|>"
BPE_VOCAB_FILE = "vocab.json"
BPE_MERGES_FILE = "merges.txt"
DECODER_TOKENIZER_FOLDER = "decoder_tokenizer"
BERT_DEFAULT_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None}
_PADDING.update({None: None, "do_not_pad": None})
_TRUNCATION = {True: "longest_first", False: None, None: None, "do_not_truncate": None}
_TRUNCATION.update({s: s for s in ("longest_first", "only_first", "only_second")})
# Keys of from_pretrained that steer loading and are not tokenizer settings.
_LOADER_KEYS = {"use_fast", "trust_remote_code", "cache_dir", "local_files_only", "token"}
_LOADER_KEYS |= {"force_download", "subfolder", "_from_auto"}
# Keys of a read tokenizer_config.json that are rewritten (or dropped) on save.
_NOT_SAVED = {"name_or_path", "tokenizer_file", "vocab_file", "special_tokens_map_file"}
_NOT_SAVED |= {"added_tokens_decoder", "additional_special_tokens", "extra_special_tokens"}
_NOT_SAVED |= {"tokenizer_class", "auto_map", "is_local", "local_files_only", "files_loaded"}
_NOT_SAVED |= set(SPECIAL_TOKEN_NAMES)


class BatchEncoding(dict):
    """The output of a tokenizer call: a dict whose fields can also be read as attributes.

    A tokenizer call also keeps the ``tokenizers`` encodings, for :meth:`tokens`, :meth:`word_ids`
    and :meth:`sequence_ids`; the output of ``pad`` has none.
    """

    def __init__(self, data: Mapping[str, Any] | None = None, encodings: list | None = None):
        super().__init__(data or {})
        self._encodings = encodings

    @property
    def encodings(self) -> list | None:
        """One ``tokenizers.Encoding`` per text, or None."""
        return self.__dict__.get("_encodings")

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The tokens (strings) of text ``batch_index``."""
        return self._encoding(batch_index, "tokens").tokens

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of text ``batch_index``, the index of its word (None for special tokens)."""
        return self._encoding(batch_index, "word_ids").word_ids

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """For each token of text ``batch_index``: 0 (first text), 1 (pair) or None (special)."""
        return self._encoding(batch_index, "sequence_ids").sequence_ids

    def _encoding(self, batch_index: int, method: str) -> Any:
        if self.encodings is None:
            raise ValueError(
                f"{method}() needs the encodings of a tokenizer call; this BatchEncoding has "
                "none (it was built by pad() or by hand)."
            )
        return self.encodings[batch_index]

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"BatchEncoding has no field {name!r}; it has {list(self)}"
            ) from None

    def to(self, device: Any, *, non_blocking: bool = False) -> BatchEncoding:
        """Move every tensor to ``device``, in place.

        Args:
            device: a torch device, device string or index.
            non_blocking: passed to ``Tensor.to``.

        Returns:
            This BatchEncoding.
        """
        for key, value in self.items():
            if hasattr(value, "to"):
                self[key] = value.to(device=device, non_blocking=non_blocking)
        return self


class _SpecialToken:
    """``tok.pad_token`` (a string or None) and ``tok.pad_token_id`` (its id or None)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name.removesuffix("_id")
        self.as_id = name.endswith("_id")

    def __get__(self, obj: Tokenizer | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        token = obj._special.get(self.key)
        if token is None or not self.as_id:
            return token
        return obj.convert_tokens_to_ids(token)

    def __set__(self, obj: Tokenizer, value: Any) -> None:
        if self.as_id and value is not None:
            value = obj.convert_ids_to_tokens(int(value))
        obj._special[self.key] = _token_text(value)


class Tokenizer:
    """A tokenizer that runs a ``tokenizers`` pipeline (``tokenizer.json``) as written.

    Settings (special tokens, ``model_max_length``, ``clean_up_tokenization_spaces``,
    ``padding_side``, ``model_input_names``) are keyword arguments, as in tokenizer_config.json.
    """

    tokenizer_class_name = "TokenizersBackend"  # the class transformers loads our saved files with
    model_input_names: list[str] = ["input_ids", "attention_mask"]  # noqa: RUF012
    bos_token = _SpecialToken()
    eos_token = _SpecialToken()
    unk_token = _SpecialToken()
    sep_token = _SpecialToken()
    pad_token = _SpecialToken()
    cls_token = _SpecialToken()
    mask_token = _SpecialToken()
    bos_token_id = _SpecialToken()
    eos_token_id = _SpecialToken()
    unk_token_id = _SpecialToken()
    sep_token_id = _SpecialToken()
    pad_token_id = _SpecialToken()
    cls_token_id = _SpecialToken()
    mask_token_id = _SpecialToken()

    def __init__(self, backend: RustTokenizer, /, *, name_or_path: str = "", **config: Any):
        self._backend = backend
        self._lock = threading.RLock()
        self._warned_too_long = False
        self.name_or_path = str(name_or_path)
        self.init_config = dict(config)
        self._special = {name: _token_text(config.get(name)) for name in SPECIAL_TOKEN_NAMES}
        self.extra_special_tokens = _extra_tokens(config)
        limit = config.get("model_max_length", config.get("max_len"))
        self.model_max_length = int(limit) if limit is not None else VERY_LARGE_INTEGER
        self.clean_up_tokenization_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self.padding_side = _side(config.get("padding_side", "right"), "padding_side")
        self.truncation_side = _side(config.get("truncation_side", "right"), "truncation_side")
        self.model_input_names = list(config.get("model_input_names", self.model_input_names))
        self._add_missing_special_tokens()

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any
    ) -> Tokenizer:
        """Load a tokenizer from a folder or a Hugging Face repo id.

        Args:
            name_or_path: a local folder, or a repo id in the local Hugging Face cache.
            revision: a branch, tag or commit of the repo (repo ids only).
            **kwargs: settings that override tokenizer_config.json, e.g. ``model_max_length``.

        Returns:
            The tokenizer.
        """
        folder = resolve(name_or_path, revision=revision)
        config = _read_config(folder, kwargs)
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"No {TOKENIZER_FILE} in {folder}; {cls.__name__} needs one.")
        backend = RustTokenizer.from_file(str(path))
        if backend.padding is not None:  # transformers takes the pad token from the file
            config.setdefault("pad_token", backend.padding["pad_token"])
        return cls(backend, name_or_path=str(name_or_path), **config)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # locks do not pickle; the Rust tokenizer does
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # ---- special tokens and vocabulary -------------------------------------------------------

    def _add_missing_special_tokens(self) -> None:
        present = {t.content for t in self._backend.get_added_tokens_decoder().values()}
        missing = [t for t in self.all_special_tokens if t not in present]
        if missing:
            self._backend.add_special_tokens(
                [AddedToken(t, special=True, normalized=False) for t in missing]
            )

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens that are set, e.g. ``{"cls_token": "[CLS]", ...}``."""
        return {name: tok for name in SPECIAL_TOKEN_NAMES if (tok := self._special[name])}

    @property
    def all_special_tokens(self) -> list[str]:
        """Every special token (named ones first, then extra ones), without repeats."""
        tokens = [*self.special_tokens_map.values(), *self.extra_special_tokens]
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self) -> list[int]:
        """The ids of :attr:`all_special_tokens`, in the same order."""
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def extra_special_tokens_ids(self) -> list[int]:
        """The ids of :attr:`extra_special_tokens`."""
        return self.convert_tokens_to_ids(self.extra_special_tokens)

    def add_tokens(
        self,
        new_tokens: str | AddedToken | Sequence[str | AddedToken],
        special_tokens: bool = False,
    ) -> int:
        """Add tokens to the vocabulary (new ones get ids after the last); they are never split.

        Resize the model's embeddings to ``len(tokenizer)`` afterwards.

        Args:
            new_tokens: a token or a list of tokens (strings or ``tokenizers.AddedToken``).
            special_tokens: add them as special tokens (not normalised, skipped when decoding
                with ``skip_special_tokens``), without giving them a name.

        Returns:
            How many tokens the backend added (a token already in the vocabulary can count, as
            in transformers, without taking a new id).
        """
        if not new_tokens:
            return 0
        if isinstance(new_tokens, (str, AddedToken)):
            new_tokens = [new_tokens]
        with self._lock:
            if special_tokens:
                return self._backend.add_special_tokens(list(new_tokens))
            return self._backend.add_tokens(list(new_tokens))

    def add_special_tokens(
        self,
        special_tokens_dict: Mapping[str, str | AddedToken | Sequence[str | AddedToken]],
        replace_extra_special_tokens: bool = True,
    ) -> int:
        """Set named special tokens (e.g. ``{"pad_token": "[PAD]"}``), adding new ones to the
        vocabulary, as transformers does.

        Args:
            special_tokens_dict: keys ``bos_token``, ``eos_token``, ``unk_token``, ``sep_token``,
                ``pad_token``, ``cls_token``, ``mask_token``, or ``extra_special_tokens`` (alias
                ``additional_special_tokens``) with a list of tokens.
            replace_extra_special_tokens: replace the extra special tokens rather than extend
                them (replaced ones stay in the vocabulary).

        Returns:
            How many tokens were added to the vocabulary.
        """
        tokens = dict(special_tokens_dict)
        if "additional_special_tokens" in tokens and not tokens.get("extra_special_tokens"):
            tokens["extra_special_tokens"] = tokens.pop("additional_special_tokens")
        to_add = []
        for key, value in tokens.items():
            if key == "extra_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(
                    isinstance(t, (str, AddedToken)) for t in value
                ):
                    raise ValueError(f"{key} must be a list of str or AddedToken, got {value!r}.")
                new = [
                    t
                    for t in value
                    if replace_extra_special_tokens or str(t) not in self.extra_special_tokens
                ]
                texts = [_token_text(t) for t in new]
                if replace_extra_special_tokens and new:
                    self.extra_special_tokens = texts
                else:
                    self.extra_special_tokens = [*self.extra_special_tokens, *texts]
                to_add += new
            elif key in SPECIAL_TOKEN_NAMES:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"{key} must be a str or an AddedToken, got {value!r}.")
                setattr(self, key, value)
                to_add.append(value)
            else:
                allowed = ", ".join([*SPECIAL_TOKEN_NAMES, "extra_special_tokens"])
                raise ValueError(f"{key!r} is not a special token name; use one of {allowed}.")
        to_add = [_special_added_token(t) for t in to_add]
        return self.add_tokens(to_add, special_tokens=True)

    @property
    def backend_tokenizer(self) -> RustTokenizer:
        """The underlying ``tokenizers.Tokenizer``."""
        return self._backend

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def pad_token_type_id(self) -> int:
        return 0

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens."""
        return self._backend.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def get_vocab(self) -> dict[str, int]:
        """Every token (added ones included) mapped to its id."""
        return self._backend.get_vocab(with_added_tokens=True)

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        """The added tokens (special ones included) by id."""
        return dict(sorted(self._backend.get_added_tokens_decoder().items()))

    def get_added_vocab(self) -> dict[str, int]:
        """The added tokens (special ones included) mapped to their ids."""
        return {token.content: i for i, token in self.added_tokens_decoder.items()}

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many special tokens encoding adds to one text (or a pair)."""
        return self._backend.num_special_tokens_to_add(pair)

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Map a token (or a list of tokens) to ids; unknown tokens give ``unk_token_id``.

        Args:
            tokens: one token or a list of tokens.

        Returns:
            One id, or a list of ids.
        """
        if isinstance(tokens, str):
            index = self._backend.token_to_id(tokens)
            return index if index is not None else self.unk_token_id
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str | None] | None:
        """Map an id (or a list of ids) to tokens; an id outside the vocabulary gives None.

        Args:
            ids: one id, or a list or 1-D tensor of ids.
            skip_special_tokens: leave out special tokens (lists only).

        Returns:
            One token, or a list of tokens.
        """
        ids = _to_python(ids)
        if isinstance(ids, int):
            return self._backend.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._backend.id_to_token(int(i)) for i in ids if int(i) not in skip]

    def convert_tokens_to_string(self, tokens: Sequence[str]) -> str:
        """Join tokens into text, undoing the sub-word marks (``##``, GPT-2's byte symbols)."""
        decoder = self._backend.decoder
        return decoder.decode(list(tokens)) if decoder is not None else " ".join(tokens)

    # ---- encoding ----------------------------------------------------------------------------

    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        text_pair: str | Sequence[str] | None = None,
        *,
        text_target: str | Sequence[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **unsupported: Any,
    ) -> BatchEncoding:
        """Tokenize a text, a pair of texts, or a batch of either.

        Args:
            text: a string, or a list of strings (a batch).
            text_pair: the second text of each pair (same shape as ``text``).
            text_target: texts whose ids are returned as ``labels`` (alone if ``text`` is None).
            add_special_tokens: add ``[CLS]``/``[SEP]`` (or what the tokenizer's template says).
            padding: False, True or "longest" (to the longest in the batch), or "max_length".
            truncation: True or "longest_first", "only_first", "only_second", or False. With no
                ``max_length`` it truncates to ``model_max_length``. Default: on if ``max_length``
                is given and ``padding`` is not.
            max_length: the length to truncate (and, with padding="max_length", pad) to.
            pad_to_multiple_of: round padded lengths up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_tensors: "pt" for torch tensors of shape (batch, length), or None for lists.
            return_token_type_ids: include ``token_type_ids`` (default: if the model takes them).
            return_attention_mask: include ``attention_mask`` (default: if the model takes it).
            return_special_tokens_mask: include ``special_tokens_mask`` (1 for special tokens).
            return_offsets_mapping: include ``offset_mapping``: each token's (start, end) in text.
            return_length: include ``length``, the number of ids of each text (a list, as in
                transformers, even for one text).
            verbose: warn about sequences longer than ``model_max_length``.
            **unsupported: transformers' other options (``stride``, ``is_split_into_words``,
                ...) are accepted at their defaults only; unknown names raise TypeError, where
                transformers ignores them.

        Returns:
            A BatchEncoding of ``input_ids`` (and ``token_type_ids``, ``attention_mask``,
            ``labels``, ...): lists of ids for one text, lists of lists for a batch, or tensors.
        """
        _check_unsupported(unsupported, f"{type(self).__name__}.__call__")
        if text is None and text_target is None:
            raise ValueError("Pass `text` (or `text_target`) to tokenize.")
        options = {
            "add_special_tokens": add_special_tokens,
            "padding": padding,
            "truncation": truncation,
            "max_length": max_length,
            "pad_to_multiple_of": pad_to_multiple_of,
            "padding_side": padding_side,
            "return_tensors": return_tensors,
            "return_token_type_ids": return_token_type_ids,
            "return_attention_mask": return_attention_mask,
            "return_special_tokens_mask": return_special_tokens_mask,
            "return_offsets_mapping": return_offsets_mapping,
            "return_length": return_length,
            "verbose": verbose,
        }
        encoded = self._encode(text, text_pair, **options) if text is not None else None
        if text_target is None:
            return encoded
        target = self._encode(text_target, None, **options)
        if encoded is None:
            return target
        encoded["labels"] = target["input_ids"]
        return encoded

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        return_tensors: str | None = None,
    ) -> list[int]:
        """Tokenize one text (or pair) to a list of ids.

        Args:
            text: the text.
            text_pair: an optional second text.
            add_special_tokens, padding, truncation, max_length, return_tensors: as in ``__call__``.

        Returns:
            The ids (a tensor of shape (1, length) with ``return_tensors="pt"``).
        """
        return self._encode(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            return_tensors=return_tensors,
        )["input_ids"]

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False
    ) -> list[str]:
        """Split a text into tokens (strings), without special tokens by default.

        Args:
            text: the text.
            pair: an optional second text.
            add_special_tokens: also return the special tokens encoding adds.

        Returns:
            The tokens.
        """
        _, inputs = _as_batch(text, pair)
        return self._run(inputs, add_special_tokens, None, None, None, None)[0].tokens

    def _encode(
        self,
        text: Any,
        text_pair: Any,
        *,
        add_special_tokens: bool = True,
        padding: Any = False,
        truncation: Any = None,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        return_tensors = _tensor_type(return_tensors)
        batched, inputs = _as_batch(text, text_pair)
        pad, trunc, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        encodings = self._run(
            inputs, add_special_tokens, pad, trunc, max_length, pad_to_multiple_of, padding_side
        )
        data = self._fields(encodings, return_token_type_ids, return_attention_mask)
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [e.special_tokens_mask for e in encodings]
        if return_offsets_mapping:
            data["offset_mapping"] = [e.offsets for e in encodings]
        if return_length:
            data["length"] = [len(e.ids) for e in encodings]
        if max_length is None and verbose:
            self._warn_if_too_long(data["input_ids"])
        if return_tensors is not None:
            return BatchEncoding(_to_tensors(data), encodings)
        if not batched:  # one text: drop the batch axis of per-token fields, as transformers does
            data = {k: v[0] if isinstance(v[0], list) else v for k, v in data.items()}
        return BatchEncoding(data, encodings)

    def _strategies(
        self,
        padding: Any,
        truncation: Any,
        max_length: int | None,
        multiple: int | None,
        verbose: bool = True,
    ) -> tuple[str | None, str | None, int | None]:
        """Resolve padding/truncation to tokenizers' names and a length, as transformers does."""
        if max_length is not None and padding is False and truncation is None:
            truncation = True
        pad = _choice(padding, _PADDING, "padding")
        trunc = _choice(truncation, _TRUNCATION, "truncation")
        if padding is True and max_length is not None and trunc is None and verbose:
            warnings.warn(
                "`max_length` is ignored when `padding`=`True` and there is no truncation "
                "strategy. To pad to max length, use `padding='max_length'`.",
                stacklevel=4,
            )
        if max_length is None:
            limit = self.model_max_length if self.model_max_length <= LARGE_INTEGER else None
            if pad == "max_length":
                pad, max_length = (pad, limit) if limit is not None else (None, None)
            if trunc is not None:
                trunc, max_length = (trunc, limit) if limit is not None else (None, max_length)
        if pad is not None and (self.pad_token is None or self.pad_token_id is None):
            raise ValueError(
                "Asked to pad, but this tokenizer has no pad_token; set one first, "
                "e.g. `tokenizer.pad_token = tokenizer.eos_token`."
            )
        if pad and trunc and multiple and max_length is not None and max_length % multiple:
            raise ValueError(
                f"Truncation length ({max_length}) is not a multiple of pad_to_multiple_of "
                f"({multiple}), so padded sequences could exceed it."
            )
        return pad, trunc, max_length

    def _run(
        self,
        inputs: list,
        add_special_tokens: bool,
        pad: str | None,
        trunc: str | None,
        max_length: int | None,
        multiple: int | None,
        side: str | None = None,
    ) -> list:
        """Configure the backend's truncation and padding for this call, then encode."""
        backend = self._backend
        with self._lock:
            if trunc is None:
                backend.no_truncation()
            else:
                backend.enable_truncation(
                    max_length, stride=0, strategy=trunc, direction=self.truncation_side
                )
            if pad is None:
                backend.no_padding()
            else:
                backend.enable_padding(
                    direction=_side(side or self.padding_side, "padding_side"),
                    pad_id=self.pad_token_id,
                    pad_type_id=0,
                    pad_token=self.pad_token,
                    length=max_length if pad == "max_length" else None,
                    pad_to_multiple_of=multiple,
                )
            try:
                return backend.encode_batch(inputs, add_special_tokens=add_special_tokens)
            except Exception as err:  # the Rust library raises a bare Exception
                raise ValueError(f"Could not tokenize the input: {err}") from err

    def _fields(
        self, encodings: list, token_type_ids: bool | None, attention_mask: bool | None
    ) -> dict[str, list[list[int]]]:
        if token_type_ids is None:
            token_type_ids = "token_type_ids" in self.model_input_names
        if attention_mask is None:
            attention_mask = "attention_mask" in self.model_input_names
        data = {"input_ids": [e.ids for e in encodings]}
        if token_type_ids:
            data["token_type_ids"] = [e.type_ids for e in encodings]
        if attention_mask:
            data["attention_mask"] = [e.attention_mask for e in encodings]
        return data

    def _warn_if_too_long(self, rows: list[list[int]]) -> None:
        longest = max((len(row) for row in rows), default=0)
        if longest > self.model_max_length and not self._warned_too_long:
            self._warned_too_long = True
            logger.warning(
                "Token sequence length %d is longer than this model's maximum (%d); running it "
                "through the model will fail. Pass truncation=True to cut it.",
                longest,
                self.model_max_length,
            )

    def pad(
        self,
        encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pad already tokenized inputs, as transformers' ``pad`` (and so its data collators) do.

        ``input_ids`` are padded with ``pad_token_id``, ``attention_mask`` with 0 (and made when
        missing), ``token_type_ids`` with 0 and ``special_tokens_mask`` with 1; other fields
        (``labels``, ...) are left as they are.

        Args:
            encoded_inputs: one example (a dict of id lists), a batch as a dict of lists of id
                lists, or a list of examples (dicts or BatchEncodings, as a collator gets them).
                Tensors are accepted in place of lists and make ``return_tensors`` default to "pt".
            padding: True or "longest" (to the longest in the batch), "max_length", or False.
            max_length: the length to pad to with padding="max_length".
            pad_to_multiple_of: round padded lengths up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_attention_mask: pad and return ``attention_mask`` (default: if the model
                takes it).
            return_tensors: "pt" for torch tensors, or None for lists.
            verbose: warn when ``max_length`` is given with padding=True.

        Returns:
            A BatchEncoding of the padded fields.
        """
        examples = encoded_inputs
        if isinstance(examples, (list, tuple)) and examples and isinstance(examples[0], Mapping):
            encoded_inputs = {k: [ex[k] for ex in examples] for k in examples[0]}
        if not isinstance(encoded_inputs, Mapping):
            raise TypeError(
                "pad takes a dict of id lists, or a list of such dicts; "
                f"got {type(encoded_inputs).__name__}."
            )
        main = self.model_input_names[0]
        if main not in encoded_inputs:
            raise ValueError(f"pad needs `{main}`; the inputs have {list(encoded_inputs)}.")
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        side = _side(padding_side or self.padding_side, "padding_side")
        if len(encoded_inputs[main]) == 0:  # nothing to pad
            return BatchEncoding(encoded_inputs)
        return_tensors = _tensor_type(return_tensors, given=encoded_inputs[main])
        data = {k: _to_python(v) for k, v in encoded_inputs.items()}
        pad, _, max_length = self._strategies(padding, None, max_length, None, verbose)
        rows = data[main]
        if not isinstance(rows[0], list):  # one example
            length = len(rows) if pad == "longest" else max_length if pad else None
            data = self._pad_example(data, length, pad_to_multiple_of, side, return_attention_mask)
        else:
            sizes = {k: len(v) for k, v in data.items()}
            if len(set(sizes.values())) > 1:
                raise ValueError(f"The fields given to pad have different batch sizes: {sizes}.")
            length = max(map(len, rows)) if pad == "longest" else max_length if pad else None
            examples = [
                self._pad_example(
                    {k: v[i] for k, v in data.items()},
                    length,
                    pad_to_multiple_of,
                    side,
                    return_attention_mask,
                )
                for i in range(len(rows))
            ]
            data = {k: [ex[k] for ex in examples] for k in examples[0]}
        return BatchEncoding(_to_tensors(data) if return_tensors else data)

    def _pad_example(
        self,
        example: dict[str, Any],
        length: int | None,
        multiple: int | None,
        side: str,
        attention_mask: bool,
    ) -> dict[str, Any]:
        """Pad one example's fields to ``length`` (rounded up to ``multiple``); None: no padding."""
        main = self.model_input_names[0]
        ids = example[main]
        if attention_mask and "attention_mask" not in example:
            example["attention_mask"] = [1] * len(ids)
        if length is not None and multiple and length % multiple:
            length = (length // multiple + 1) * multiple
        missing = 0 if length is None else length - len(ids)
        if missing <= 0:
            return example
        fills = {main: self.pad_token_id, "token_type_ids": self.pad_token_type_id}
        fills["special_tokens_mask"] = 1
        if attention_mask:
            fills["attention_mask"] = 0
        for key, fill in fills.items():
            if key in example:
                padding = [fill] * missing
                row = list(example[key])
                example[key] = row + padding if side == "right" else padding + row
        return example

    # ---- decoding ----------------------------------------------------------------------------

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str | list[str]:
        """Turn ids back into text.

        Args:
            token_ids: an id, a list or 1-D tensor of ids, or a batch (list of lists, 2-D tensor).
            skip_special_tokens: leave out special tokens such as ``[CLS]`` and ``[PAD]``.
            clean_up_tokenization_spaces: remove spaces before punctuation and in contractions
                (default: the tokenizer's setting, False unless tokenizer_config.json says so).

        Returns:
            The text, or a list of texts for a batch.
        """
        ids = _to_python(token_ids)
        if isinstance(ids, list) and ids and isinstance(ids[0], list):
            return [
                self._decode(seq, skip_special_tokens, clean_up_tokenization_spaces) for seq in ids
            ]
        return self._decode(ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(
        self,
        sequences: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> list[str]:
        """Turn a batch of id sequences back into texts.

        Args:
            sequences: a list of id lists, or a 2-D tensor.
            skip_special_tokens, clean_up_tokenization_spaces: as in ``decode``.

        Returns:
            One text per sequence (a single flat sequence gives a list of one text).
        """
        seqs = _to_python(sequences)
        if isinstance(seqs, list) and not seqs:
            return []
        result = self.decode(seqs, skip_special_tokens, clean_up_tokenization_spaces)
        return [result] if isinstance(result, str) else result

    def _decode(self, ids: Any, skip_special_tokens: bool, clean_up: bool | None) -> str:
        ids = [ids] if isinstance(ids, int) else [int(i) for i in ids]
        text = self._backend.decode(ids, skip_special_tokens=skip_special_tokens)
        clean_up = self.clean_up_tokenization_spaces if clean_up is None else clean_up
        # transformers skips this clean-up for BPE models, where it would corrupt the text.
        if clean_up and type(self._backend.model).__name__ != "BPE":
            text = _clean_up_tokenization(text)
        return text

    # ---- saving ------------------------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike) -> tuple[str, ...]:
        """Write the tokenizer files into a folder, leaving its other files in place.

        Writes tokenizer.json, tokenizer_config.json, special_tokens_map.json and, for WordPiece
        vocabularies, vocab.txt; each file is replaced atomically. transformers loads the result.

        Args:
            save_directory: the folder (created if missing).

        Returns:
            The paths written.
        """
        folder = Path(save_directory).expanduser()
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} exists and is a file; pass a folder.")
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            TOKENIZER_FILE: self._backend_json(),
            CONFIG_FILE: _dump_json(self._config_to_save()),
            SPECIAL_TOKENS_FILE: _dump_json(self._special_tokens_to_save()),
        }
        vocab = self._vocab_txt()
        if vocab is not None:
            files[VOCAB_FILE] = vocab
        for name, text in files.items():
            _atomic_write(folder / name, text)
        return tuple(str(folder / name) for name in files)

    def _backend_json(self) -> str:
        with self._lock:
            self._backend.no_truncation()
            self._backend.no_padding()
            return self._backend.to_str(pretty=True)

    def _vocab_txt(self) -> str | None:
        """vocab.txt for a WordPiece model whose ids run 0..n-1, else None."""
        if type(self._backend.model).__name__ != "WordPiece":
            return None
        vocab = self._backend.get_vocab(with_added_tokens=False)
        by_id = sorted(vocab, key=vocab.__getitem__)
        if [vocab[token] for token in by_id] != list(range(len(by_id))):
            return None
        return "".join(token + "\n" for token in by_id)

    def _own_config(self) -> dict[str, Any]:
        """Class-specific settings for tokenizer_config.json."""
        return {}

    def _config_to_save(self) -> dict[str, Any]:
        config = {k: v for k, v in self.init_config.items() if k not in _NOT_SAVED}
        config.update(self._own_config())
        config.update(self._special_tokens_to_save())
        config["model_max_length"] = self.model_max_length
        config["clean_up_tokenization_spaces"] = self.clean_up_tokenization_spaces
        config["padding_side"] = self.padding_side
        config["truncation_side"] = self.truncation_side
        config["tokenizer_class"] = self.tokenizer_class_name
        return config

    def _special_tokens_to_save(self) -> dict[str, Any]:
        tokens: dict[str, Any] = dict(self.special_tokens_map)
        if self.extra_special_tokens:
            tokens["additional_special_tokens"] = list(self.extra_special_tokens)
        return tokens

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, "
            f"vocab_size={self.vocab_size}, model_max_length={self.model_max_length}, "
            f"special_tokens={self.special_tokens_map})"
        )


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
        self._set_template()

    def _set_template(self) -> None:
        cls, sep = self.cls_token, self.sep_token
        self._backend.post_processor = processors.TemplateProcessing(
            single=f"{cls}:0 $A:0 {sep}:0",
            pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
            special_tokens=[(cls, self.cls_token_id), (sep, self.sep_token_id)],
        )

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any
    ) -> BertTokenizer:
        """Load a BERT tokenizer from a folder (tokenizer.json or vocab.txt) or a repo id.

        Args:
            name_or_path: a local folder, or a repo id in the local Hugging Face cache.
            revision: a branch, tag or commit of the repo (repo ids only).
            **kwargs: settings that override tokenizer_config.json, e.g. ``do_lower_case``.

        Returns:
            The tokenizer.
        """
        folder = resolve(name_or_path, revision=revision)
        config = _read_config(folder, kwargs)
        vocab, added = _bert_vocab(folder)
        added = _added_tokens(config, added)
        return cls(vocab, added_tokens=added, name_or_path=str(name_or_path), **config)

    def _own_config(self) -> dict[str, Any]:
        return {
            "do_lower_case": self.do_lower_case,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
        }


BertTokenizerFast = BertTokenizer


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
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any
    ) -> GPT2Tokenizer:
        """Load a GPT-2 tokenizer from a folder (tokenizer.json, or vocab.json + merges.txt) or a
        repo id.

        Args:
            name_or_path: a local folder, or a repo id in the local Hugging Face cache.
            revision: a branch, tag or commit of the repo (repo ids only).
            **kwargs: settings that override tokenizer_config.json, e.g. ``add_prefix_space``.

        Returns:
            The tokenizer.
        """
        folder = resolve(name_or_path, revision=revision)
        config = _read_config(folder, kwargs)
        vocab, merges, added = _bpe_vocab(folder)
        added = _added_tokens(config, added)
        return cls(vocab, merges, added_tokens=added, name_or_path=str(name_or_path), **config)

    def _own_config(self) -> dict[str, Any]:
        return {
            "add_prefix_space": self.add_prefix_space,
            "add_bos_token": self.add_bos_token,
            "add_eos_token": self.add_eos_token,
        }


GPT2TokenizerFast = GPT2Tokenizer


class AutoTokenizer:
    """Picks the tokenizer class a folder needs and loads it.

    ``tokenizer_class`` in tokenizer_config.json (else config.json's ``tokenizer_class`` or
    ``model_type``) decides: BERT classes give :class:`BertTokenizer`; anything else with a
    tokenizer.json gives a :class:`Tokenizer` that runs that file as written.
    """

    def __init__(self) -> None:
        raise TypeError(
            "AutoTokenizer is not instantiated; use AutoTokenizer.from_pretrained(...)."
        )

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any
    ) -> Tokenizer:
        """Load the right tokenizer for a folder or a Hugging Face repo id.

        Args:
            name_or_path: a local folder, or a repo id in the local Hugging Face cache.
            revision: a branch, tag or commit of the repo (repo ids only).
            **kwargs: settings that override tokenizer_config.json.

        Returns:
            A BertTokenizer, a GPT2Tokenizer or a Tokenizer.
        """
        tokenizer_cls = _pick_class(resolve(name_or_path, revision=revision))
        return tokenizer_cls.from_pretrained(name_or_path, revision=revision, **kwargs)


# ---- helpers ---------------------------------------------------------------------------------


def _pick_class(folder: Path) -> type[Tokenizer]:
    config = _read_json(folder / CONFIG_FILE)
    model_config = _read_json(folder / "config.json")
    name = config.get("tokenizer_class") or model_config.get("tokenizer_class")
    if name is None and model_config.get("model_type") in BERT_MODEL_TYPES:
        name = "BertTokenizer"
    if name is None and model_config.get("model_type") in GPT2_MODEL_TYPES:
        name = "GPT2Tokenizer"
    if name in BERT_CLASSES:
        return BertTokenizer
    if name in GPT2_CLASSES:
        return GPT2Tokenizer
    if (folder / TOKENIZER_FILE).is_file():
        return Tokenizer
    if name is None:
        files = (VOCAB_FILE, BPE_VOCAB_FILE)
        if not any((folder / f).is_file() for f in files):
            raise FileNotFoundError(
                f"No tokenizer in {folder}: looked for {TOKENIZER_FILE} and {VOCAB_FILE}, and "
                f"for GPT-2's {BPE_VOCAB_FILE} with {BPE_MERGES_FILE}."
            )
        raise ValueError(
            f"Cannot tell which tokenizer {folder} holds: {CONFIG_FILE} names no tokenizer_class, "
            f"config.json gives no model_type and there is no {TOKENIZER_FILE}. Use "
            "BertTokenizer.from_pretrained for a BERT vocab.txt, GPT2Tokenizer.from_pretrained "
            "for GPT-2's vocab.json and merges.txt."
        )
    raise ValueError(
        f"Tokenizer class {name!r} (from {folder}) is not supported: warmstart supports "
        f"{', '.join(BERT_CLASSES + GPT2_CLASSES)}, and any tokenizer saved as {TOKENIZER_FILE}, "
        "which this folder lacks."
    )


def save_tokenizers(
    save_directory: str | os.PathLike,
    encoder_tokenizer: Tokenizer,
    decoder_tokenizer: Tokenizer | None = None,
) -> tuple[str, ...]:
    """Save the tokenizers of an encoder-decoder model, e.g. into the folder of ``save_pretrained``.

    The encoder's tokenizer goes at the top of the folder, where transformers'
    ``AutoTokenizer.from_pretrained(folder)`` finds it; the decoder's, when it differs (bert2gpt2),
    under ``decoder_tokenizer/``. A ``decoder_tokenizer/`` left by an earlier save is removed when
    the two are now the same. :func:`load_tokenizers` reads both back.

    Args:
        save_directory: the folder (created if missing; its other files are kept).
        encoder_tokenizer: tokenizes the source text.
        decoder_tokenizer: tokenizes the targets and decodes generated ids (default: the encoder's).

    Returns:
        The paths written.
    """
    folder = Path(save_directory).expanduser()
    written = tuple(encoder_tokenizer.save_pretrained(folder))
    sub = folder / DECODER_TOKENIZER_FOLDER
    if decoder_tokenizer is None or _same_tokenizer(encoder_tokenizer, decoder_tokenizer):
        if sub.is_dir():
            shutil.rmtree(sub)
        return written
    return written + tuple(decoder_tokenizer.save_pretrained(sub))


def load_tokenizers(
    name_or_path: str | os.PathLike, *, revision: str | None = None, **kwargs: Any
) -> tuple[Tokenizer, Tokenizer]:
    """Load the tokenizers :func:`save_tokenizers` wrote: ``(encoder_tokenizer, decoder_tokenizer)``.

    Args:
        name_or_path: a model folder, or a repo id in the local Hugging Face cache.
        revision: a branch, tag or commit of the repo (repo ids only).
        **kwargs: settings for both tokenizers, as in ``AutoTokenizer.from_pretrained``.

    Returns:
        The encoder's tokenizer and the decoder's (the same object when the folder holds one).
    """
    folder = resolve(name_or_path, revision=revision)
    encoder = AutoTokenizer.from_pretrained(folder, **kwargs)
    sub = folder / DECODER_TOKENIZER_FOLDER
    decoder = AutoTokenizer.from_pretrained(sub, **kwargs) if sub.is_dir() else encoder
    return encoder, decoder


def _same_tokenizer(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if not (isinstance(a, Tokenizer) and isinstance(b, Tokenizer)):
        return False
    return type(a) is type(b) and (a._backend_json(), a._config_to_save()) == (
        b._backend_json(),
        b._config_to_save(),
    )


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


def _added_tokens(config: Mapping[str, Any], added: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A saved config's ``added_tokens_decoder`` wins over tokenizer.json's list."""
    if "added_tokens_decoder" not in config:
        return added
    return [{**tok, "id": int(i)} for i, tok in config["added_tokens_decoder"].items()]


def _add_tokens(backend: RustTokenizer, tokens: Sequence[Mapping[str, Any]]) -> None:
    """Add serialized added tokens (tokenizer.json form) in id order."""
    fields = ("single_word", "lstrip", "rstrip", "normalized", "special")
    for token in sorted(tokens, key=lambda t: int(t.get("id", 0))):
        added = AddedToken(token["content"], **{k: bool(token[k]) for k in fields if k in token})
        if added.special:
            backend.add_special_tokens([added])
        else:
            backend.add_tokens([added])


def _read_json(path: Path) -> dict[str, Any]:
    data = load_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object.")
    return data


def _read_config(folder: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """tokenizer_config.json, then special_tokens_map.json, then the caller's overrides."""
    config = _read_json(folder / CONFIG_FILE)
    for key in ("tokenizer_class", "name_or_path"):
        config.pop(key, None)
    if "added_tokens_decoder" not in config:  # transformers reads the map only for older folders
        for key, value in _read_json(folder / SPECIAL_TOKENS_FILE).items():
            if not overrides.get(key):
                config[key] = value
    config.update({k: v for k, v in overrides.items() if k not in _LOADER_KEYS})
    return config


def _token_text(value: Any) -> str | None:
    """A special token as written in the config files: a string, an AddedToken or its dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, AddedToken):
        return value.content
    if isinstance(value, Mapping) and "content" in value:
        return str(value["content"])
    raise TypeError(f"A special token must be a string, got {value!r}.")


def _no_file_keywords(config: Mapping[str, Any], *names: str) -> None:
    """transformers 5 ignores ``vocab_file=`` and gives a tokenizer of special tokens alone."""
    given = [name for name in names if config.get(name)]
    if given:
        raise TypeError(
            f"{given[0]}= is not read by the constructor (transformers 5 ignores it too, and builds "
            "an empty vocabulary); pass the file as vocab= (and merges=), or use from_pretrained."
        )


def _special_added_token(token: str | AddedToken) -> AddedToken:
    """A string becomes a special AddedToken that is matched before normalisation."""
    if isinstance(token, AddedToken):
        return token
    return AddedToken(token, rstrip=False, lstrip=False, normalized=False, special=True)


def _extra_tokens(config: Mapping[str, Any]) -> list[str]:
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    if isinstance(extra, Mapping):
        extra = list(extra.values())
    return [_token_text(token) for token in extra]


def _side(value: str, name: str) -> str:
    if value not in ("right", "left"):
        raise ValueError(f"{name} must be 'right' or 'left', got {value!r}.")
    return value


def _choice(value: Any, table: Mapping[Any, str | None], name: str) -> str | None:
    value = getattr(value, "value", value)  # accept transformers' strategy enums
    try:
        return table[value]
    except (KeyError, TypeError):
        allowed = ", ".join(repr(k) for k in table)
        raise ValueError(f"{name}={value!r} is not valid; use one of {allowed}.") from None


def _as_batch(text: Any, text_pair: Any) -> tuple[bool, list]:
    """Whether the input is a batch, and the inputs as tokenizers' encode_batch takes them."""
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError("When `text` is one string, `text_pair` must be a string too.")
        return False, [(text, text_pair)] if text_pair else [text]  # "" counts as no pair
    if not isinstance(text, (list, tuple)) or not all(isinstance(t, str) for t in text):
        raise ValueError("`text` must be a string or a list of strings.")
    if not text:
        raise ValueError("`text` is an empty list; there is nothing to tokenize.")
    if text_pair is None:
        return True, list(text)
    if isinstance(text_pair, str) or not isinstance(text_pair, (list, tuple)):
        raise TypeError("For a batch, `text_pair` must be a list as long as `text`.")
    if len(text_pair) != len(text) or not all(isinstance(t, str) for t in text_pair):
        raise ValueError(
            f"`text_pair` must be {len(text)} strings, one per text; got {len(text_pair)} items."
        )
    return True, list(zip(text, text_pair))


def _to_tensors(data: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    tensors = {}
    for key, rows in data.items():
        if torch.is_tensor(rows):
            tensors[key] = rows
            continue
        if rows and all(isinstance(row, (list, tuple)) for row in rows):
            lengths = sorted({len(row) for row in rows})
            if len(lengths) > 1:
                raise ValueError(
                    f"Cannot make one tensor of `{key}`: its sequences have lengths {lengths}. "
                    "Pass padding=True (and truncation=True for long texts) to return_tensors='pt'."
                )
        try:
            tensor = torch.tensor(rows)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"Cannot make a tensor of `{key}`: {err}") from err
        tensors[key] = tensor.long() if tensor.numel() == 0 else tensor  # ints, as transformers
    return tensors


def _tensor_type(return_tensors: Any, given: Any = None) -> str | None:
    """Check ``return_tensors``; pad (``given`` its inputs) returns tensors when given tensors."""
    value = getattr(return_tensors, "value", return_tensors)  # accept transformers' TensorType
    if value is None and given is not None:
        first = given[0]
        if isinstance(first, (list, tuple)):
            first = next((row[0] for row in given if len(row)), None)
        if first is not None and not isinstance(first, (int, float)):
            if not type(first).__module__.startswith("torch"):
                raise ValueError(
                    f"pad was given {type(first).__name__} values; warmstart returns torch "
                    "tensors or lists (not numpy arrays): pass return_tensors='pt', or lists."
                )
            value = "pt"
    if value not in (None, "pt"):
        raise ValueError(
            f"return_tensors={value!r} is not supported; use 'pt' (torch tensors) or None (lists)."
        )
    return value


# transformers' __call__ options that warmstart takes at their default values only.
_DEFAULT_ONLY = {"stride": 0, "is_split_into_words": False, "return_overflowing_tokens": False}
_DEFAULT_ONLY.update({"text_pair_target": None, "tokenizer_kwargs": None})


def _check_unsupported(options: Mapping[str, Any], where: str) -> None:
    for key, value in options.items():
        if key not in _DEFAULT_ONLY:
            raise TypeError(
                f"{where} got an unexpected keyword argument {key!r}. (transformers ignores "
                "keywords it does not know; warmstart raises, so that a misspelt option shows.)"
            )
        if value != _DEFAULT_ONLY[key]:
            raise NotImplementedError(
                f"{where}: {key}={value!r} is a transformers option that warmstart does not "
                f"support (only {key}={_DEFAULT_ONLY[key]!r})."
            )


def _to_python(value: Any) -> Any:
    """Tensors, arrays and tuples to plain (nested) lists and ints."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_to_python(v) for v in value]
    return value


def _clean_up_tokenization(text: str) -> str:
    """Remove the spaces WordPiece decoding leaves before punctuation and in contractions."""
    for spaced, joined in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(spaced, joined)
    return text


def _dump_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    """Write a file under a temporary name in the same folder, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
