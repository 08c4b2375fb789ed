"""SentencePiece models (``spiece.model``) read without the ``sentencepiece`` package, and run by
the ``tokenizers`` library.

Kudo and Richardson, "SentencePiece: A simple and language independent subword tokenizer", 2018.
A ``.model`` file is a protocol buffer (``ModelProto``): the pieces with their scores and types, the
trainer's settings (model type, unknown id, byte fallback) and the normaliser's (a precompiled
character map, the dummy ``▁`` prefix, whitespace handling). :func:`read_spm` decodes the fields a
tokenizer needs straight from the wire format; :func:`spm_backend` builds the ``tokenizers``
pipeline that encodes as ``SentencePieceProcessor.encode`` does for a unigram model.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Regex, decoders, normalizers
from tokenizers import Tokenizer as RustTokenizer
from tokenizers.models import Unigram

SPIECE_FILE = "spiece.model"

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
"""SentencePiece's piece types."""
UNIGRAM = 1
_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


@dataclass
class SentencePieceModel:
    """The fields of a ``ModelProto`` a tokenizer needs, with SentencePiece's defaults."""

    pieces: list[tuple[str, float, int]] = field(default_factory=list)  # (piece, score, type)
    model_type: int = UNIGRAM
    unk_id: int = 0
    byte_fallback: bool = False
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of one message: varints as ints, fixed32 as their raw
    4 bytes, length-delimited fields (strings, bytes, sub-messages) as bytes."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def read_spm(data: bytes) -> SentencePieceModel:
    """Decode a SentencePiece ``.model`` file's bytes.

    Raises:
        ValueError: the bytes are not a SentencePiece model.
    """
    model = SentencePieceModel()
    try:
        for number, value in _fields(data):
            if number == 1:  # a piece: 1 piece, 2 score, 3 type
                piece = dict(_fields(value))
                score = struct.unpack("<f", piece.get(2, b"\0\0\0\0"))[0]
                model.pieces.append((piece[1].decode("utf-8"), score, piece.get(3, NORMAL)))
            elif number == 2:  # trainer spec
                spec = dict(_fields(value))
                model.model_type = spec.get(3, UNIGRAM)
                model.unk_id = spec.get(40, 0)
                model.byte_fallback = bool(spec.get(35, 0))
            elif number == 3:  # normalizer spec
                spec = dict(_fields(value))
                model.precompiled_charsmap = spec.get(2, b"")
                model.add_dummy_prefix = bool(spec.get(3, 1))
                model.remove_extra_whitespaces = bool(spec.get(4, 1))
                model.escape_whitespaces = bool(spec.get(5, 1))
    except (IndexError, KeyError, UnicodeDecodeError, struct.error, ValueError) as err:
        raise ValueError(f"not a SentencePiece model ({err})") from None
    if not model.pieces:
        raise ValueError("not a SentencePiece model (it has no pieces)")
    return model


def read_spm_file(vocab_file: str | os.PathLike | bytes) -> tuple[bytes, SentencePieceModel]:
    """A ``.model`` file (its path, or its bytes): the bytes, and the model they hold.

    Raises:
        ValueError: not a SentencePiece model; the message names ``vocab_file``.
    """
    data = vocab_file if isinstance(vocab_file, bytes) else Path(vocab_file).read_bytes()
    try:
        return data, read_spm(data)
    except ValueError as err:
        where = "vocab_file" if isinstance(vocab_file, bytes) else vocab_file
        raise ValueError(f"{where} is {err}.") from None


def spm_backend(model: SentencePieceModel) -> RustTokenizer:
    """A ``tokenizers`` pipeline that encodes and decodes as SentencePiece does with ``model``: the
    precompiled normalisation, surrounding and repeated spaces removed, spaces as ``▁`` and a ``▁``
    in front of the text, then the unigram lattice over the pieces' scores.

    Raises:
        ValueError: the model is not a unigram model (BPE, word and char models are not read).
    """
    if model.model_type != UNIGRAM:
        kind = _MODEL_TYPES.get(model.model_type, str(model.model_type))
        raise ValueError(
            f"This SentencePiece model is a {kind} model; only unigram models are read. Save the "
            "tokenizer with transformers as tokenizer.json and load that instead."
        )
    vocab = [(piece, score) for piece, score, _ in model.pieces]
    backend = RustTokenizer(Unigram(vocab, model.unk_id, model.byte_fallback))
    steps = []
    if model.precompiled_charsmap:
        steps.append(normalizers.Precompiled(model.precompiled_charsmap))
    if model.remove_extra_whitespaces:
        steps += [
            normalizers.Replace(Regex(r"\A +| +\z"), ""),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    if model.escape_whitespaces:
        steps.append(normalizers.Replace(" ", "▁"))
    if model.add_dummy_prefix:
        steps.append(normalizers.Prepend("▁"))
    backend.normalizer = normalizers.Sequence(steps)
    steps = [decoders.Replace("▁", " ")]
    if model.byte_fallback:
        steps.append(decoders.ByteFallback())
    steps.append(decoders.Fuse())
    if model.add_dummy_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    backend.decoder = decoders.Sequence(steps)
    return backend


def special_pieces(model: SentencePieceModel) -> list[str]:
    """The control and unknown pieces (``<s>``, ``</s>``, ``<pad>``, ``<unk>``): SentencePiece never
    makes them from text, so they are special tokens."""
    return [piece for piece, _, kind in model.pieces if kind in (CONTROL, UNKNOWN)]
