"""The TensorFlow side: Keras 3 models on the TensorFlow backend that read and write the PyTorch
side's folders, XLA-compiled generation, Keras training. Imports the core and TensorFlow only."""

from .auto import TFAutoModel, TFAutoModelForCausalLM, TFAutoModelForSeq2SeqLM
from .encoder_decoder import TFEncoderDecoderModel, TFSeq2SeqLMOutput, shift_tokens_right
from .models.bart import TFBartForCausalLM, TFBartModel
from .models.bert import TFBertLMHeadModel, TFBertModel
from .models.bert_generation import TFBertGenerationDecoder, TFBertGenerationEncoder
from .models.electra import TFElectraForCausalLM, TFElectraModel
from .models.gpt2 import TFGPT2LMHeadModel, TFGPT2Model
from .models.rembert import TFRemBertForCausalLM, TFRemBertModel
from .models.roberta import TFRobertaForCausalLM, TFRobertaModel

__all__ = [
    "TFAutoModel",
    "TFAutoModelForCausalLM",
    "TFAutoModelForSeq2SeqLM",
    "TFBartForCausalLM",
    "TFBartModel",
    "TFBertGenerationDecoder",
    "TFBertGenerationEncoder",
    "TFBertLMHeadModel",
    "TFBertModel",
    "TFElectraForCausalLM",
    "TFElectraModel",
    "TFEncoderDecoderModel",
    "TFGPT2LMHeadModel",
    "TFGPT2Model",
    "TFRemBertForCausalLM",
    "TFRemBertModel",
    "TFRobertaForCausalLM",
    "TFRobertaModel",
    "TFSeq2SeqLMOutput",
    "shift_tokens_right",
]
