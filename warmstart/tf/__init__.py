"""The TensorFlow side: Keras 3 models on the TensorFlow backend that read and write the PyTorch
side's folders, XLA-compiled generation, Keras training. Imports the core and TensorFlow only. The
family classes are exported under the names of the core's table (:mod:`warmstart.families`)."""

from .auto import TFAutoModel, TFAutoModelForCausalLM, TFAutoModelForSeq2SeqLM
from .encoder_decoder import TFEncoderDecoderModel, TFSeq2SeqLMOutput, shift_tokens_right
from .families import CLASSES

globals().update(CLASSES)

__all__ = [
    "TFAutoModel",
    "TFAutoModelForCausalLM",
    "TFAutoModelForSeq2SeqLM",
    "TFEncoderDecoderModel",
    "TFSeq2SeqLMOutput",
    "shift_tokens_right",
    *CLASSES,
]
