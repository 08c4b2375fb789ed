"""warmstart: sequence-to-sequence models warm-started from pretrained checkpoints.

The public names keep transformers' spelling, so code ports by changing the import.
"""

from .config import AutoConfig, BertConfig, Config, EncoderDecoderConfig
from .encoder_decoder import EncoderDecoderModel, Seq2SeqLMOutput, shift_tokens_right
from .models.bert import BertLMHeadModel, BertModel
from .tokenizer import AutoTokenizer, BatchEncoding, BertTokenizer, BertTokenizerFast, Tokenizer

__all__ = [
    "AutoConfig",
    "AutoTokenizer",
    "BatchEncoding",
    "BertConfig",
    "BertLMHeadModel",
    "BertModel",
    "BertTokenizer",
    "BertTokenizerFast",
    "Config",
    "EncoderDecoderConfig",
    "EncoderDecoderModel",
    "Seq2SeqLMOutput",
    "Tokenizer",
    "shift_tokens_right",
]
