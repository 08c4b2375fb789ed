"""Text to token ids and back, the way transformers' tokenizers do it.

A thin layer over Hugging Face ``tokenizers`` (the Rust library). :class:`BertTokenizer` follows
transformers' ``BertTokenizer``: the WordPiece vocabulary comes from ``tokenizer.json`` (or
``vocab.txt``) and the normalisation from ``tokenizer_config.json``. :class:`GPT2Tokenizer` is GPT-2's
byte-level BPE (``tokenizer.json``, or ``vocab.json`` and ``merges.txt``). :class:`Tokenizer` runs any
``tokenizer.json`` as written. :class:`BertGenerationTokenizer` reads the SentencePiece
``spiece.model`` of Rothe et al.'s checkpoints (spm.py reads the file); :class:`RemBertTokenizer`
RemBERT's ``sentencepiece.model`` or ``tokenizer.json``. :class:`AutoTokenizer`
picks between them. :func:`save_tokenizers` and
:func:`load_tokenizers` keep an encoder's and a decoder's tokenizers with a model folder.

Layout: base.py (Tokenizer), encoding.py (its call, encode and pad), inputs.py (texts, pairs and
words to the backend's inputs), batch.py (BatchEncoding, tensors and arrays), files.py (file
names, reading and writing settings), bert.py, gpt2.py, auto.py.
"""

from .auto import (
    BERT_CLASSES,
    BERT_MODEL_TYPES,
    DECODER_TOKENIZER_FOLDER,
    GPT2_CLASSES,
    GPT2_MODEL_TYPES,
    AutoTokenizer,
    load_tokenizers,
    save_tokenizers,
)
from .base import VERY_LARGE_INTEGER, Tokenizer
from .batch import BatchEncoding
from .bert import BERT_DEFAULT_TOKENS, BertTokenizer, BertTokenizerFast
from .bert_generation import BertGenerationTokenizer
from .encoding import LARGE_INTEGER
from .files import CONFIG_FILE, SPECIAL_TOKEN_NAMES, SPECIAL_TOKENS_FILE, TOKENIZER_FILE, VOCAB_FILE
from .gpt2 import (
    BPE_MERGES_FILE,
    BPE_VOCAB_FILE,
    GPT2_DEFAULT_TOKEN,
    GPT2Tokenizer,
    GPT2TokenizerFast,
)
from .rembert import REMBERT_SPM_FILE, RemBertTokenizer, RemBertTokenizerFast
from .spm import SPIECE_FILE

__all__ = [
    "BERT_CLASSES",
    "BERT_DEFAULT_TOKENS",
    "BERT_MODEL_TYPES",
    "BPE_MERGES_FILE",
    "BPE_VOCAB_FILE",
    "CONFIG_FILE",
    "DECODER_TOKENIZER_FOLDER",
    "GPT2_CLASSES",
    "GPT2_DEFAULT_TOKEN",
    "GPT2_MODEL_TYPES",
    "LARGE_INTEGER",
    "REMBERT_SPM_FILE",
    "SPECIAL_TOKENS_FILE",
    "SPECIAL_TOKEN_NAMES",
    "SPIECE_FILE",
    "TOKENIZER_FILE",
    "VERY_LARGE_INTEGER",
    "VOCAB_FILE",
    "AutoTokenizer",
    "BatchEncoding",
    "BertGenerationTokenizer",
    "BertTokenizer",
    "BertTokenizerFast",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "RemBertTokenizer",
    "RemBertTokenizerFast",
    "Tokenizer",
    "load_tokenizers",
    "save_tokenizers",
]
