"""warmstart: sequence-to-sequence models warm-started from pretrained checkpoints.

The public names keep transformers' spelling, so code ports by changing the import.
"""

from .auto import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
from .config import (
    AutoConfig,
    BartConfig,
    BertConfig,
    Config,
    ElectraConfig,
    EncoderDecoderConfig,
    GPT2Config,
    RobertaConfig,
    XLMRobertaConfig,
)
from .encoder_decoder import EncoderDecoderModel, Seq2SeqLMOutput, shift_tokens_right
from .generation import GenerateOutput, GenerationConfig
from .models.bart import BartForCausalLM, BartModel
from .models.bert import BertLMHeadModel, BertModel
from .models.electra import ElectraForCausalLM, ElectraModel
from .models.gpt2 import GPT2LMHeadModel, GPT2Model
from .models.roberta import RobertaForCausalLM, RobertaModel
from .tokenizer import (
    AutoTokenizer,
    BatchEncoding,
    BertTokenizer,
    BertTokenizerFast,
    GPT2Tokenizer,
    GPT2TokenizerFast,
    Tokenizer,
    load_tokenizers,
    save_tokenizers,
)

__all__ = [
    "AutoConfig",
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForSeq2SeqLM",
    "AutoTokenizer",
    "BartConfig",
    "BartForCausalLM",
    "BartModel",
    "BatchEncoding",
    "BertConfig",
    "BertLMHeadModel",
    "BertModel",
    "BertTokenizer",
    "BertTokenizerFast",
    "Config",
    "ElectraConfig",
    "ElectraForCausalLM",
    "ElectraModel",
    "EncoderDecoderConfig",
    "EncoderDecoderModel",
    "GPT2Config",
    "GPT2LMHeadModel",
    "GPT2Model",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "GenerateOutput",
    "GenerationConfig",
    "RobertaConfig",
    "RobertaForCausalLM",
    "RobertaModel",
    "Seq2SeqLMOutput",
    "Tokenizer",
    "XLMRobertaConfig",
    "load_tokenizers",
    "save_tokenizers",
    "shift_tokens_right",
]
