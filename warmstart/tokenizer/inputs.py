"""What a tokenizer call was given: one text or a batch, with or without pairs, as strings or as
lists of words (``is_split_into_words=True``), turned into the inputs of ``tokenizers``'
``encode_batch``. The shapes and the errors follow transformers' fast tokenizers."""

from __future__ import annotations

from typing import Any


def _as_batch(text: Any, text_pair: Any, words: bool = False) -> tuple[bool, list]:
    """Whether the input is a batch, and the inputs as tokenizers' encode_batch takes them
    (with ``is_pretokenized=words``)."""
    for name, value in (("text", text), ("text_pair", text_pair)):
        if value is not None and not _looks_like_text(value):
            raise ValueError(
                f"`{name}` must be a string or a list of strings (or, with "
                "is_split_into_words=True, a list of words or a list of lists of words); "
                f"got {type(value).__name__}."
            )
    if words:
        return _as_word_batch(text, text_pair)
    return _as_text_batch(text, text_pair)


def _looks_like_text(value: Any, depth: int = 0) -> bool:
    """The shape transformers accepts for a text argument: a string, or lists (up to three deep)
    whose first item has that shape; only the first item is looked at, as there."""
    if isinstance(value, str):
        return True
    if not isinstance(value, (list, tuple)) or depth == 3:
        return False
    return not value or _looks_like_text(value[0], depth + 1)


def _as_text_batch(text: Any, text_pair: Any) -> tuple[bool, list]:
    if isinstance(text, str):
        if text_pair is not None and not isinstance(text_pair, str):
            raise TypeError("When `text` is one string, `text_pair` must be a string too.")
        return False, [(text, text_pair)] if text_pair else [text]  # "" counts as no pair
    if not text:
        raise ValueError("`text` is an empty list; there is nothing to tokenize.")
    if not all(isinstance(t, str) for t in text):
        raise TypeError(
            "`text` must be a string or a list of strings; for texts split into words (lists "
            "of strings), pass is_split_into_words=True."
        )
    if text_pair is None:
        return True, list(text)
    _check_pair_batch(text, text_pair)
    if not all(isinstance(t, str) for t in text_pair):
        raise ValueError(
            f"`text_pair` must be {len(text)} strings, one per text; got {len(text_pair)} items."
        )
    return True, list(zip(text, text_pair))


def _as_word_batch(text: Any, text_pair: Any) -> tuple[bool, list]:
    """is_split_into_words: one example is a list of words, a batch is a list of such lists (or
    of (words, pair words) tuples); ``text_pair`` has the same shape as ``text``."""
    batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
    if not batched:
        if not text_pair:  # None, "" or no words: no pair, as in transformers
            return False, [_words(text, "text")]
        return False, [(_words(text, "text"), _words(text_pair, "text_pair"))]
    if text_pair is None:
        return True, [_word_item(item) for item in text]
    _check_pair_batch(text, text_pair)
    return True, [(_words(t, "text"), _words(p, "text_pair")) for t, p in zip(text, text_pair)]


def _word_item(item: Any) -> list[str] | tuple[list[str], list[str]]:
    """One example of a batch of words: a list of words, or a pair of lists of words."""
    pair = isinstance(item, (list, tuple)) and len(item) == 2
    if pair and not any(isinstance(part, str) for part in item):
        return _words(item[0], "text"), _words(item[1], "text_pair")
    return _words(item, "text")


def _words(value: Any, name: str) -> list[str]:
    if isinstance(value, (list, tuple)) and all(isinstance(word, str) for word in value):
        return list(value)
    raise TypeError(
        f"With is_split_into_words=True, `{name}` must be a list of words (strings), or for a "
        f"batch a list of such lists; got {value!r:.80}. Split a string first (e.g. "
        "text.split()), or leave is_split_into_words=False."
    )


def _check_pair_batch(text: Any, text_pair: Any) -> None:
    if not isinstance(text_pair, (list, tuple)):
        raise TypeError("For a batch, `text_pair` must be a list as long as `text`.")
    if len(text_pair) != len(text):
        raise ValueError(
            f"`text_pair` must have one item per text: {len(text)} texts, {len(text_pair)} pairs."
        )
