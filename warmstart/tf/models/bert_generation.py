"""BertGeneration as an encoder (``TFBertGenerationEncoder``) and a decoder
(``TFBertGenerationDecoder``) on TensorFlow.

Rothe, Narayan and Severyn, "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks",
2020: BERT's post-LN layers (:mod:`.bert`) over word and learned absolute position embeddings,
without token types or a pooler; the decoder's ``lm_head`` is one projection tied to the word
embeddings plus a bias, no transform. transformers 4.x had no TF class; the variable names are the
PyTorch side's (:mod:`warmstart.torch.models.bert_generation`).
"""

from __future__ import annotations

from .bert import TFBertLMHeadModel, TFBertModel


class TFBertGenerationEncoder(TFBertModel):
    """BERT's layer stack over word + position embeddings: no token types, no pooler."""

    model_types = ("bert-generation",)
    pooler = False
    token_types = False


class TFBertGenerationDecoder(TFBertLMHeadModel, TFBertGenerationEncoder):
    """BertGeneration used as a decoder: ``bert`` plus ``lm_head`` (projection and bias)."""

    model_types = ("bert-generation",)
    prefix = "bert."
    transform = None
    output_name = "lm_head.decoder.weight"
    bias_name = "lm_head.bias"
