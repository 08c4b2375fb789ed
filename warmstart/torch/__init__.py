"""The PyTorch side: encoders, decoders and ``EncoderDecoderModel`` as ``torch.nn`` modules.

Imports the framework-free core (configs, names to files, key layouts, tokenizers, generation
settings) and torch; never TensorFlow or JAX.
"""

from .auto import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
from .encoder_decoder import EncoderDecoderModel, Seq2SeqLMOutput, shift_tokens_right
from .generation import GenerateOutput
from .models.bart import BartForCausalLM, BartModel
from .models.bert import BertLMHeadModel, BertModel
from .models.bert_generation import BertGenerationDecoder, BertGenerationEncoder
from .models.electra import ElectraForCausalLM, ElectraModel
from .models.gpt2 import GPT2LMHeadModel, GPT2Model
from .models.rembert import RemBertForCausalLM, RemBertModel
from .models.roberta import RobertaForCausalLM, RobertaModel
from .trainer_callback import SaveConfigCallback

__all__ = [
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForSeq2SeqLM",
    "BartForCausalLM",
    "BartModel",
    "BertGenerationDecoder",
    "BertGenerationEncoder",
    "BertLMHeadModel",
    "BertModel",
    "ElectraForCausalLM",
    "ElectraModel",
    "EncoderDecoderModel",
    "GPT2LMHeadModel",
    "GPT2Model",
    "GenerateOutput",
    "RemBertForCausalLM",
    "RemBertModel",
    "RobertaForCausalLM",
    "RobertaModel",
    "SaveConfigCallback",
    "Seq2SeqLMOutput",
    "shift_tokens_right",
]
