"""Tiny model configs and random perturbation shared by the tests and the device check
(`benchmarks/device_check.py`). The configs are plain dicts (tests/core reads them with no
framework); the helpers that perturb and build models import torch when called."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

TINY = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
)
WIDE = dict(TINY, hidden_size=48)  # a wider encoder: enc_to_dec_proj maps 48 -> 32
GPT2_TINY = dict(
    vocab_size=99,
    n_embd=32,
    n_layer=2,
    n_head=4,
    n_inner=37,
    n_positions=64,
    bos_token_id=2,
    eos_token_id=2,
)
BART_TINY = dict(
    vocab_size=99,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=37,
    decoder_ffn_dim=37,
    max_position_embeddings=64,
)


ELECTRA_TINY = dict(TINY, embedding_size=16)
UNTIED = dict(TINY, tie_word_embeddings=False)
PAIRINGS = {
    "bert2bert": (("Bert", TINY), ("Bert", TINY)),
    "bert2gpt2": (("Bert", WIDE), ("GPT2", GPT2_TINY)),
    "roberta2roberta": (("Roberta", TINY), ("Roberta", TINY)),
    "roberta2gpt2": (("Roberta", TINY), ("GPT2", GPT2_TINY)),
    "roberta2xlmroberta_untied": (("Roberta", TINY), ("XLMRoberta", UNTIED)),
    "electra2bert": (("Electra", ELECTRA_TINY), ("Bert", TINY)),
    "electra2electra": (("Electra", ELECTRA_TINY), ("Electra", ELECTRA_TINY)),
    "bert2bert_untied": (("Bert", TINY), ("Bert", UNTIED)),
    "bert2bart": (("Bert", TINY), ("Bart", BART_TINY)),
    "bart2bart": (("Bart", BART_TINY), ("Bart", BART_TINY)),
}
"""name -> (encoder family, config kwargs), (decoder family, config kwargs): every family on both
sides of a composite; the TF side and the ONNX room test each against the PyTorch side."""


def randomize_(model: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Perturb every parameter, so that zero biases and unit LayerNorm weights of a fresh model
    cannot hide a wrong bias, scale or order of operations."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)
    return model


BERTGEN_IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=1)


def bertgen_bert2bert(folder) -> torch.nn.Module:
    """The PyTorch side's bert2bert of tiny BertGeneration halves (ids :data:`BERTGEN_IDS`), made to
    read its input and end rows at different steps, saved to ``folder`` for the TF and Flax sides."""
    import torch

    from warmstart import BertGenerationConfig, EncoderDecoderConfig, EncoderDecoderModel

    torch.manual_seed(0)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertGenerationConfig(**TINY), BertGenerationConfig(**TINY), **BERTGEN_IDS
    )
    model = randomize_(EncoderDecoderModel(config)).eval()
    with torch.no_grad():
        for layer in model.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        model.decoder.lm_head.bias[BERTGEN_IDS["eos_token_id"]] += 0.2
    model.save_pretrained(folder)
    return model


IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=3)
"""The token ids of :func:`tiny_bert2bert`."""


def tiny_bert2bert(folder: Path, eos_bias: float = 0.2, randomized: bool = False):
    """A tiny transformers bert2bert (token ids :data:`IDS`) saved to ``folder``, and ours loaded
    from it. Random tiny models barely read their input, and rarely end: the cross-attention
    output is scaled up and eos made likelier, so rows finish at different steps."""
    import torch
    import transformers as hf

    from warmstart import EncoderDecoderModel

    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY)
    )
    for key, value in IDS.items():
        setattr(config, key, value)
    theirs = hf.EncoderDecoderModel(config).eval()
    if randomized:
        randomize_(theirs)
    with torch.no_grad():
        for layer in theirs.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        theirs.decoder.cls.predictions.bias[IDS["eos_token_id"]] += eos_bias
    theirs.save_pretrained(folder)
    return theirs, EncoderDecoderModel.from_pretrained(folder)


def padded_batch(vocab: int, B: int = 3, S: int = 11, T: int = 7, pad: int = 0):
    """Source ids with right padding (torch tensors), its mask, and labels with -100 padding."""
    import torch

    x = torch.randint(3, vocab, (B, S))
    mask = torch.ones_like(x)
    for row, n in enumerate(range(S, 0, -max(1, S // B))):
        if row < B:
            mask[row, n:] = 0
    x = x.masked_fill(mask == 0, pad)
    y = torch.randint(3, vocab, (B, T))
    y[1:, T - 2 :] = -100
    return x, mask, y
