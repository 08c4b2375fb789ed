"""AutoTokenizer, which picks the tokenizer class a folder needs, and save_tokenizers /
load_tokenizers, which keep an encoder's and a decoder's tokenizers with a model folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..hub import resolve
from .base import Tokenizer
from .bert import BertTokenizer
from .bert_generation import BertGenerationTokenizer
from .files import CONFIG_FILE, TOKENIZER_FILE, VOCAB_FILE, _read_json
from .gpt2 import BPE_MERGES_FILE, BPE_VOCAB_FILE, GPT2Tokenizer
from .rembert import REMBERT_SPM_FILE, RemBertTokenizer
from .spm import SPIECE_FILE

BERT_CLASSES = ("BertTokenizer", "BertTokenizerFast")
BERT_MODEL_TYPES = ("bert",)
GPT2_CLASSES = ("GPT2Tokenizer", "GPT2TokenizerFast")
GPT2_MODEL_TYPES = ("gpt2",)
BERT_GENERATION_CLASSES = ("BertGenerationTokenizer",)
BERT_GENERATION_MODEL_TYPES = ("bert-generation",)
REMBERT_CLASSES = ("RemBertTokenizer", "RemBertTokenizerFast")
REMBERT_MODEL_TYPES = ("rembert",)
DECODER_TOKENIZER_FOLDER = "decoder_tokenizer"
# Each class AutoTokenizer picks: the tokenizer_class names that ask for it, the model_types that
# mean it when no name is given, and the files it needs one of (none: it names what it lacks).
_SUPPORTED = (
    (BertTokenizer, BERT_CLASSES, BERT_MODEL_TYPES, ()),
    (GPT2Tokenizer, GPT2_CLASSES, GPT2_MODEL_TYPES, ()),
    (BertGenerationTokenizer, BERT_GENERATION_CLASSES, BERT_GENERATION_MODEL_TYPES, (SPIECE_FILE,)),
    (RemBertTokenizer, REMBERT_CLASSES, REMBERT_MODEL_TYPES, (TOKENIZER_FILE, REMBERT_SPM_FILE)),
)


class AutoTokenizer:
    """Picks the tokenizer class a folder needs and loads it.

    ``tokenizer_class`` in tokenizer_config.json (else config.json's ``tokenizer_class`` or
    ``model_type``) decides: BERT classes give :class:`BertTokenizer`, GPT-2's
    :class:`GPT2Tokenizer`, BertGeneration's (with a ``spiece.model``)
    :class:`BertGenerationTokenizer`, RemBERT's (with a ``tokenizer.json`` or
    ``sentencepiece.model``) :class:`RemBertTokenizer`; anything else with a tokenizer.json gives a
    :class:`Tokenizer` that runs that file as written.
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


def _pick_class(folder: Path) -> type[Tokenizer]:
    config = _read_json(folder / CONFIG_FILE)
    model_config = _read_json(folder / "config.json")
    name = config.get("tokenizer_class") or model_config.get("tokenizer_class")
    if name is None:
        model_type = model_config.get("model_type")
        name = next((names[0] for _, names, types, _ in _SUPPORTED if model_type in types), None)
    for tokenizer_cls, names, _, files in _SUPPORTED:
        if name in names and (not files or any((folder / f).is_file() for f in files)):
            return tokenizer_cls
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
    supported = [
        ", ".join(names) + (f" (with {' or '.join(files)})" if files else "")
        for _, names, _, files in _SUPPORTED
    ]
    raise ValueError(
        f"Tokenizer class {name!r} (from {folder}) is not supported: warmstart supports "
        f"{', '.join(supported)}, and any tokenizer saved as {TOKENIZER_FILE}, which this folder "
        "lacks."
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
