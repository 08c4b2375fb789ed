"""warmstart: sequence-to-sequence models warm-started from pretrained checkpoints.

The public names keep transformers' spelling, so code ports by changing the import.
"""

from .config import AutoConfig, BertConfig, Config, EncoderDecoderConfig
from .encoder_decoder import EncoderDecoderModel, Seq2SeqLMOutput, shift_tokens_right
from .models.bert import BertLMHeadModel, BertModel

__all__ = [
    "AutoConfig",
    "BertConfig",
    "BertLMHeadModel",
    "BertModel",
    "Config",
    "EncoderDecoderConfig",
    "EncoderDecoderModel",
    "Seq2SeqLMOutput",
    "shift_tokens_right",
]
