"""Tokenizer, which runs a ``tokenizers`` pipeline (tokenizer.json) as written: special tokens,
vocabulary, decoding and saving; encoding comes from encoding.py."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tokenizers import AddedToken
from tokenizers import Tokenizer as RustTokenizer

from ..hub import resolve, write_text_atomic
from .batch import _to_python
from .encoding import _EncodingMixin, _side
from .files import (
    CONFIG_FILE,
    SPECIAL_TOKEN_NAMES,
    SPECIAL_TOKENS_FILE,
    TOKENIZER_FILE,
    VOCAB_FILE,
    _dump_json,
    _extra_tokens,
    _read_config,
    _special_added_token,
    _token_text,
)

_T = TypeVar("_T", bound="Tokenizer")  # from_pretrained returns the class it is called on
VERY_LARGE_INTEGER = int(1e30)  # transformers' model_max_length when none is configured
# Keys of a read tokenizer_config.json that are rewritten (or dropped) on save.
_NOT_SAVED = {"name_or_path", "tokenizer_file", "vocab_file", "special_tokens_map_file"}
_NOT_SAVED |= {"added_tokens_decoder", "additional_special_tokens", "extra_special_tokens"}
_NOT_SAVED |= {"tokenizer_class", "auto_map", "is_local", "local_files_only", "files_loaded"}
_NOT_SAVED |= set(SPECIAL_TOKEN_NAMES)


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


class Tokenizer(_EncodingMixin):
    """A tokenizer that runs a ``tokenizers`` pipeline (``tokenizer.json``) as written.

    Settings (special tokens, ``model_max_length``, ``clean_up_tokenization_spaces``,
    ``padding_side``, ``model_input_names``) are keyword arguments, as in tokenizer_config.json.
    """

    tokenizer_class_name = "TokenizersBackend"  # the class transformers loads our saved files with
    model_input_names: list[str] = ["input_ids", "attention_mask"]  # noqa: RUF012
    # the class's own settings, attributes written to tokenizer_config.json under their names
    own_settings: tuple[str, ...] = ()
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
        cls: type[_T],
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        **kwargs: Any,
    ) -> _T:
        """Load a tokenizer from a folder or a Hugging Face repo id, from the files its class
        reads (:meth:`_from_folder`).

        Args:
            name_or_path: a local folder, or a repo id in the local Hugging Face cache.
            revision: a branch, tag or commit of the repo (repo ids only).
            **kwargs: settings that override tokenizer_config.json, e.g. ``model_max_length``
                (or a class's own, e.g. ``do_lower_case``).

        Returns:
            The tokenizer.
        """
        folder = resolve(name_or_path, revision=revision)
        return cls._from_folder(folder, _read_config(folder, kwargs), str(name_or_path))

    @classmethod
    def _from_folder(cls, folder: Path, config: dict[str, Any], name_or_path: str) -> Tokenizer:
        """The tokenizer of ``folder`` with ``config`` (tokenizer_config.json and the caller's
        settings): here its tokenizer.json, run as written; each subclass reads its own files."""
        path = folder / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"No {TOKENIZER_FILE} in {folder}; {cls.__name__} needs one.")
        backend = RustTokenizer.from_file(str(path))
        if backend.padding is not None:  # transformers takes the pad token from the file
            config.setdefault("pad_token", backend.padding["pad_token"])
        return cls(backend, name_or_path=name_or_path, **config)

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

    def get_special_tokens_mask(
        self,
        token_ids_0: Sequence[int],
        token_ids_1: Sequence[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 for each special token id in ``token_ids_0``, else 0 (``already_has_special_tokens``).

        Raises:
            NotImplementedError: for ids without their special tokens (as transformers 5); encode
                with ``return_special_tokens_mask=True`` instead.
            ValueError: a second sequence with ``already_has_special_tokens``.
        """
        if not already_has_special_tokens:
            raise NotImplementedError(
                "get_special_tokens_mask reads ids that hold their special tokens "
                "(already_has_special_tokens=True); for text, encode with "
                "return_special_tokens_mask=True."
            )
        if token_ids_1 is not None:
            raise ValueError(
                "Pass one sequence of ids with already_has_special_tokens=True: a pair is "
                "already joined in it."
            )
        special = set(self.all_special_ids)
        return [int(i in special) for i in token_ids_0]

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

        Writes tokenizer.json, tokenizer_config.json, special_tokens_map.json and the model files
        transformers' classes read (:meth:`_model_files`: vocab.txt for WordPiece vocabularies, a
        SentencePiece tokenizer's ``.model``); each file is replaced atomically. transformers loads
        the result.

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
            **self._model_files(),
        }
        for name, text in files.items():
            write_text_atomic(folder / name, text)
        return tuple(str(folder / name) for name in files)

    def _backend_json(self) -> str:
        with self._lock:
            self._backend.no_truncation()
            self._backend.no_padding()
            return self._backend.to_str(pretty=True)

    def _model_files(self) -> dict[str, str | bytes]:
        """The files saved beside tokenizer.json, by name: here vocab.txt for a WordPiece model
        whose ids run 0..n-1; a subclass built from another file returns that file."""
        if type(self._backend.model).__name__ != "WordPiece":
            return {}
        vocab = self._backend.get_vocab(with_added_tokens=False)
        by_id = sorted(vocab, key=vocab.__getitem__)
        if [vocab[token] for token in by_id] != list(range(len(by_id))):
            return {}
        return {VOCAB_FILE: "".join(token + "\n" for token in by_id)}

    def _config_to_save(self) -> dict[str, Any]:
        config = {k: v for k, v in self.init_config.items() if k not in _NOT_SAVED}
        config.update({name: getattr(self, name) for name in self.own_settings})
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
