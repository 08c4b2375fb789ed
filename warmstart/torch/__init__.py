"""The PyTorch side: encoders, decoders and ``EncoderDecoderModel`` as ``torch.nn`` modules.

Imports the framework-free core (configs, names to files, key layouts, tokenizers, generation
settings) and torch; never TensorFlow or JAX. The family classes are exported under the names of
the core's table (:mod:`warmstart.families`).
"""

from .auto import AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM
from .encoder_decoder import EncoderDecoderModel, Seq2SeqLMOutput, shift_tokens_right
from .families import CLASSES
from .generation import GenerateOutput
from .trainer_callback import SaveConfigCallback

globals().update(CLASSES)

__all__ = [
    "AutoModel",
    "AutoModelForCausalLM",
    "AutoModelForSeq2SeqLM",
    "EncoderDecoderModel",
    "GenerateOutput",
    "SaveConfigCallback",
    "Seq2SeqLMOutput",
    "shift_tokens_right",
    *CLASSES,
]
