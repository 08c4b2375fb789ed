"""Text to ids: the tokenizer call, ``encode``, ``tokenize`` and ``pad``, which
:class:`~warmstart.tokenizer.Tokenizer` inherits from here, and the checks of their arguments."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .batch import BatchEncoding, _tensor_type, _to_python, _to_tensors
from .inputs import _as_batch

if TYPE_CHECKING:
    import numpy as np
    import torch

logger = logging.getLogger("warmstart.tokenizer")

LARGE_INTEGER = int(1e20)
_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None}
_PADDING.update({None: None, "do_not_pad": None})
_TRUNCATION = {True: "longest_first", False: None, None: None, "do_not_truncate": None}
_TRUNCATION.update({s: s for s in ("longest_first", "only_first", "only_second")})
# transformers' __call__ options that warmstart takes at their default values only.
_DEFAULT_ONLY = {"text_pair_target": None, "tokenizer_kwargs": None}
# The optional per-row fields of a call, read from each ``tokenizers.Encoding``.
_EXTRA_FIELDS = {
    "special_tokens_mask": lambda e: e.special_tokens_mask,
    "offset_mapping": lambda e: e.offsets,
    "length": lambda e: len(e.ids),
}


class _EncodingMixin:
    """The encoding methods of :class:`~warmstart.tokenizer.Tokenizer`, which supplies the
    backend, its lock, the special tokens and the settings they read."""

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
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        **unsupported: Any,
    ) -> BatchEncoding:
        """Tokenize a text, a pair of texts, or a batch of either.

        Args:
            text: a string, or a list of strings (a batch); with ``is_split_into_words``, a list
                of words, or a list of lists of words (a batch).
            text_pair: the second text of each pair (same shape as ``text``).
            text_target: texts whose ids are returned as ``labels`` (alone if ``text`` is None).
            add_special_tokens: add ``[CLS]``/``[SEP]`` (or what the tokenizer's template says).
            padding: False, True or "longest" (to the longest in the batch), or "max_length".
            truncation: True or "longest_first", "only_first", "only_second", or False. With no
                ``max_length`` it truncates to ``model_max_length``. Default: on if ``max_length``
                is given and ``padding`` is not.
            max_length: the length to truncate (and, with padding="max_length", pad) to.
            stride: with ``return_overflowing_tokens``, how many tokens each overflowing window
                repeats from the end of the one before (ignored without truncation).
            is_split_into_words: ``text`` (and ``text_pair``) are already split into words; each
                word is tokenized on its own and ``word_ids()`` index the words. GPT-2 puts no
                space before a word unless built with ``add_prefix_space=True``.
            pad_to_multiple_of: round padded lengths up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_tensors: "pt" for torch tensors or "np" for numpy (int64) arrays, of shape
                (batch, length), or None for lists.
            return_token_type_ids: include ``token_type_ids`` (default: if the model takes them).
            return_attention_mask: include ``attention_mask`` (default: if the model takes it).
            return_overflowing_tokens: with truncation, also return the tokens cut off, as more
                rows (windows of ``max_length``, overlapping by ``stride``) after their text's
                row, and ``overflow_to_sample_mapping``: each row's text. The output keeps its
                batch axis even for one text.
            return_special_tokens_mask: include ``special_tokens_mask`` (1 for special tokens).
            return_offsets_mapping: include ``offset_mapping``: each token's (start, end) in text.
            return_length: include ``length``, the number of ids of each text (a list, as in
                transformers, even for one text).
            verbose: warn about sequences longer than ``model_max_length``.
            **unsupported: transformers' other options (``text_pair_target``,
                ``tokenizer_kwargs``) are accepted at their defaults only; unknown names raise
                TypeError, where transformers ignores them.

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
            "stride": stride,
            "is_split_into_words": is_split_into_words,
            "pad_to_multiple_of": pad_to_multiple_of,
            "padding_side": padding_side,
            "return_tensors": return_tensors,
            "return_token_type_ids": return_token_type_ids,
            "return_attention_mask": return_attention_mask,
            "return_overflowing_tokens": return_overflowing_tokens,
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
        text: str | Sequence[str],
        text_pair: str | Sequence[str] | None = None,
        *,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        is_split_into_words: bool = False,
        return_overflowing_tokens: bool = False,
    ) -> list[int] | list[list[int]] | torch.Tensor | np.ndarray:
        """Tokenize one text (or pair) to a list of ids.

        Args:
            text: the text (a list of words with ``is_split_into_words``).
            text_pair: an optional second text.
            add_special_tokens, padding, truncation, max_length, stride, padding_side,
                return_tensors, is_split_into_words, return_overflowing_tokens: as in
                ``__call__``.

        Returns:
            The ids: a list, an array of shape (1, length) with ``return_tensors`` ("pt" or
            "np"), or one row per window with ``return_overflowing_tokens``.
        """
        return self._encode(
            text,
            text_pair,
            add_special_tokens=add_special_tokens,
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            stride=stride,
            is_split_into_words=is_split_into_words,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_overflowing_tokens=return_overflowing_tokens,
        )["input_ids"]

    def tokenize(
        self,
        text: str | Sequence[str],
        pair: str | Sequence[str] | None = None,
        add_special_tokens: bool = False,
        *,
        is_split_into_words: bool = False,
    ) -> list[str]:
        """Split a text into tokens (strings), without special tokens by default.

        Args:
            text: the text (a list of words with ``is_split_into_words``).
            pair: an optional second text.
            add_special_tokens: also return the special tokens encoding adds.
            is_split_into_words: as in ``__call__``.

        Returns:
            The tokens.
        """
        _, inputs = _as_batch(text, pair, is_split_into_words)
        encodings = self._run(
            inputs, add_special_tokens, None, None, None, None, words=is_split_into_words
        )
        return encodings[0].tokens

    def _encode(
        self,
        text: Any,
        text_pair: Any,
        *,
        add_special_tokens: bool = True,
        padding: Any = False,
        truncation: Any = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
    ) -> BatchEncoding:
        return_tensors = _tensor_type(return_tensors)
        batched, inputs = _as_batch(text, text_pair, is_split_into_words)
        pad, trunc, max_length = self._strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose
        )
        encodings = self._run(
            inputs,
            add_special_tokens,
            pad,
            trunc,
            max_length,
            pad_to_multiple_of,
            padding_side,
            stride=stride,
            words=is_split_into_words,
        )
        if return_overflowing_tokens:  # each text's windows become rows after it
            encodings, sources = _with_overflow(encodings)
        extras = {
            "special_tokens_mask": return_special_tokens_mask,
            "offset_mapping": return_offsets_mapping,
            "length": return_length,
        }
        data = self._fields(encodings, return_token_type_ids, return_attention_mask, extras)
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = sources
        if max_length is None and verbose:
            self._warn_if_too_long(data["input_ids"])
        if return_tensors is not None:
            return BatchEncoding(_to_tensors(data, return_tensors), encodings)
        if not batched and not return_overflowing_tokens:  # drop the batch axis, as transformers
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
        *,
        stride: int = 0,
        words: bool = False,
    ) -> list:
        """Configure the backend's truncation and padding for this call, then encode (``words``:
        the inputs are lists of words)."""
        backend = self._backend
        with self._lock:
            if trunc is not None and stride > 0:
                _check_stride(backend, inputs, add_special_tokens, trunc, max_length, stride, words)
            if trunc is None:
                backend.no_truncation()
            else:
                backend.enable_truncation(
                    max_length, stride=stride, strategy=trunc, direction=self.truncation_side
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
                return backend.encode_batch(
                    inputs, add_special_tokens=add_special_tokens, is_pretokenized=words
                )
            except Exception as err:  # the Rust library raises a bare Exception
                raise ValueError(f"Could not tokenize the input: {err}") from err

    def _fields(
        self,
        encodings: list,
        token_type_ids: bool | None,
        attention_mask: bool | None,
        extras: Mapping[str, bool],
    ) -> dict[str, list]:
        """The fields asked for, one row per encoding, in transformers' order."""
        if token_type_ids is None:
            token_type_ids = "token_type_ids" in self.model_input_names
        if attention_mask is None:
            attention_mask = "attention_mask" in self.model_input_names
        data = {"input_ids": [e.ids for e in encodings]}
        if token_type_ids:
            data["token_type_ids"] = [e.type_ids for e in encodings]
        if attention_mask:
            data["attention_mask"] = [e.attention_mask for e in encodings]
        for key, wanted in extras.items():
            if wanted:
                data[key] = [_EXTRA_FIELDS[key](e) for e in encodings]
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
                Torch tensors or numpy arrays are accepted in place of lists and make
                ``return_tensors`` default to "pt" or "np".
            padding: True or "longest" (to the longest in the batch), "max_length", or False.
            max_length: the length to pad to with padding="max_length".
            pad_to_multiple_of: round padded lengths up to a multiple of this.
            padding_side: "right" or "left" (default: the tokenizer's ``padding_side``).
            return_attention_mask: pad and return ``attention_mask`` (default: if the model
                takes it).
            return_tensors: "pt" for torch tensors, "np" for numpy arrays, or None for lists.
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
        return BatchEncoding(_to_tensors(data, return_tensors) if return_tensors else data)

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


def _with_overflow(encodings: list) -> tuple[list, list[int]]:
    """Each encoding followed by its overflowing windows, and the index of each row's text."""
    groups = [[encoding, *encoding.overflowing] for encoding in encodings]
    rows = [row for group in groups for row in group]
    return rows, [i for i, group in enumerate(groups) for _ in group]


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


def _check_stride(
    backend: Any, inputs: list, special: bool, trunc: str, max_length: int, stride: int, words: bool
) -> None:
    """Refuse a ``stride`` not shorter than the room a pair leaves for a truncated text.

    The tokenizers library checks single texts itself but panics (a Rust panic, not an Exception)
    on pairs, from whichever row its worker threads reach first: find the row here instead.
    """
    pairs = [i for i, item in enumerate(inputs) if isinstance(item, tuple)]
    if not pairs:
        return
    backend.no_truncation()
    backend.no_padding()
    firsts = backend.encode_batch(
        [inputs[i][0] for i in pairs], is_pretokenized=words, add_special_tokens=False
    )
    seconds = backend.encode_batch(
        [inputs[i][1] for i in pairs], is_pretokenized=words, add_special_tokens=False
    )
    limit = max_length - (backend.num_special_tokens_to_add(True) if special else 0)
    for row, a, b in zip(pairs, firsts, seconds):
        n1, n2 = len(a.ids), len(b.ids)
        if n1 + n2 <= limit:
            continue
        rooms = _pair_rooms(trunc, n1, n2, limit)
        cut = [room for room, n in zip(rooms, (n1, n2)) if 0 < room < n]
        if cut and min(cut) <= stride:
            room = min(cut)
            raise ValueError(
                f"Pair {row}: truncating it to max_length={max_length} leaves {room} tokens "
                f"for the truncated text, not more than stride={stride}: raise max_length or "
                "lower stride."
            )


def _pair_rooms(trunc: str, n1: int, n2: int, limit: int) -> tuple[int, int]:
    """How many tokens of each text the tokenizers library keeps when it truncates a pair of
    ``n1`` and ``n2`` tokens to ``limit`` (special tokens already taken off)."""
    if trunc == "only_first":
        return limit - n2, n2
    if trunc == "only_second":
        return n1, limit - n1
    short, long = sorted((n1, n2))
    long = short if short > limit else max(short, limit - short)
    if short + long > limit:
        short, long = limit // 2, limit // 2 + limit % 2
    return (short, long) if n1 <= n2 else (long, short)
