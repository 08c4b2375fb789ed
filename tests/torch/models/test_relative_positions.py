"""``position_embedding_type="relative_key"`` / ``"relative_key_query"`` (Shaw et al., 2018; Huang
et al., 2020) as transformers 4.x's BERT, RoBERTa and ELECTRA computed them (5.x ignores the field).

transformers 4.x has no torch in this environment, so the reference is its formula written out in
numpy with explicit loops: for query i and key j, ``r = distance_embedding[i - j + P - 1]``,
``score = (q_i . k_j + q_i . r [+ k_j . r]) / sqrt(D)``, no absolute position embeddings added.
Plus: cached decoding equals uncached decoding, and checkpoints with 4.x's key names
(``...attention.self.distance_embedding.weight``) load key for key and save back the same.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_configs import TINY, randomize_

from warmstart import (
    BertConfig,
    BertLMHeadModel,
    BertModel,
    ElectraConfig,
    ElectraModel,
    EncoderDecoderConfig,
    EncoderDecoderModel,
    RobertaConfig,
    RobertaModel,
)

KINDS = ("relative_key", "relative_key_query")
FAMILIES = {
    "bert": (BertConfig, BertModel),
    "roberta": (RobertaConfig, RobertaModel),
    "electra": (ElectraConfig, ElectraModel),
}
SMALL = dict(TINY, max_position_embeddings=12, hidden_dropout_prob=0.0)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _layer_norm(x: np.ndarray, ln: torch.nn.LayerNorm) -> np.ndarray:
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + ln.eps) * _np(ln.weight) + _np(ln.bias)


def _reference_probs(h, attn, kind, keep, causal=False):
    """transformers 4.x's attention probabilities (B, H, T, T) of ``attn`` (a BertSelfAttention)
    over inputs h (B, T, C), written out from the formula. keep (B, T): 1 for keys attended."""
    B, T, C = h.shape
    H = attn.heads.num
    D = C // H
    table = _np(attn.distance_embedding.weight)
    P = (table.shape[0] + 1) // 2  # max_position_embeddings

    def heads(linear):
        return (
            (h @ _np(linear.weight).T + _np(linear.bias)).reshape(B, T, H, D).transpose(0, 2, 1, 3)
        )

    q, k = heads(attn.query), heads(attn.key)
    scores = np.zeros((B, H, T, T))
    for i in range(T):
        for j in range(T):
            r = table[i - j + P - 1]
            s = np.einsum("bhd,bhd->bh", q[:, :, i], k[:, :, j])
            s = s + q[:, :, i] @ r
            if kind == "relative_key_query":
                s = s + k[:, :, j] @ r
            scores[:, :, i, j] = s / np.sqrt(D)
    masked = (keep[:, None, None, :] == 0) | (
        causal & (np.arange(T)[None, :] > np.arange(T)[:, None])
    )
    scores = np.where(masked, -1e30, scores)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    return probs / probs.sum(-1, keepdims=True)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("kind", KINDS)
def test_encoder_equals_the_formula(family, kind):
    """Embeddings without absolute positions, and each layer's attention probabilities."""
    config_cls, model_cls = FAMILIES[family]
    extra = dict(embedding_size=16) if family == "electra" else {}
    torch.manual_seed(0)
    model = randomize_(model_cls(config_cls(**SMALL, **extra, position_embedding_type=kind)), 0.2)
    model.eval()
    x = torch.randint(3, 99, (2, 9))
    mask = torch.ones_like(x)
    mask[1, 6:] = 0
    with torch.no_grad():
        out = model(x, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    emb = model.embeddings
    types = _np(emb.token_type_embeddings.weight[0])
    expected = _layer_norm(_np(emb.word_embeddings(x)) + types, emb.LayerNorm)  # no positions
    if family == "electra":
        project = model.embeddings_project
        expected = expected @ _np(project.weight).T + _np(project.bias)
    np.testing.assert_allclose(_np(out.hidden_states[0]), expected, atol=1e-5)
    for i, layer in enumerate(model.encoder.layer):
        probs = _reference_probs(
            _np(out.hidden_states[i]), layer.attention.self, kind, mask.numpy()
        )
        np.testing.assert_allclose(_np(out.attentions[i]), probs, atol=1e-5)
    # the eager path (recording) and the SDPA path give the same states
    with torch.no_grad():
        fast = model(x, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(fast, out.last_hidden_state, atol=1e-5, rtol=1e-5)


def _decoder(kind: str) -> BertLMHeadModel:
    config = BertConfig(**SMALL, is_decoder=True, add_cross_attention=True)
    config.position_embedding_type = kind
    torch.manual_seed(1)
    return randomize_(BertLMHeadModel(config), 0.2).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_decoder_causal_and_cached_equal_uncached(kind):
    model = _decoder(kind)
    assert not hasattr(model.bert.encoder.layer[0].crossattention.self, "distance_embedding")
    y = torch.randint(3, 99, (2, 7))
    enc = torch.randn(2, 5, 32)
    with torch.no_grad():
        full = model(
            y, encoder_hidden_states=enc, output_attentions=True, output_hidden_states=True
        )
        cache, steps = model.new_cache(2, 7), []
        for t in range(7):
            steps.append(model(y[:, t : t + 1], encoder_hidden_states=enc, cache=cache).logits)
    torch.testing.assert_close(torch.cat(steps, 1), full.logits, atol=1e-5, rtol=1e-5)
    ones = np.ones((2, 7))
    for i, layer in enumerate(model.bert.encoder.layer):
        h = _np(full.hidden_states[i])
        probs = _reference_probs(h, layer.attention.self, kind, ones, causal=True)
        np.testing.assert_allclose(_np(full.attentions[i]), probs, atol=1e-5)


def test_generate_with_cache_equals_uncached_greedy():
    """A composite with relative positions on both sides: cached greedy decoding chooses what
    a full forward over the output would."""
    enc_config = BertConfig(**SMALL, position_embedding_type="relative_key")
    dec_config = BertConfig(**SMALL, position_embedding_type="relative_key_query")
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        enc_config, dec_config, decoder_start_token_id=2, pad_token_id=0
    )
    torch.manual_seed(2)
    model = randomize_(EncoderDecoderModel(config), 0.2).eval()
    x = torch.randint(3, 99, (2, 8))
    ids = model.generate(x, max_new_tokens=6, min_new_tokens=6)
    with torch.no_grad():
        logits = model(input_ids=x, decoder_input_ids=ids[:, :-1]).logits
    torch.testing.assert_close(logits.argmax(-1), ids[:, 1:])


def test_checkpoint_with_4x_key_names_loads_key_for_key(tmp_path):
    """A BERT checkpoint written as transformers 4.x wrote a relative_key model: every tensor
    loads (none newly initialised), and saving writes the same names and values back."""
    torch.manual_seed(3)
    source = BertModel(BertConfig(**SMALL, position_embedding_type="relative_key_query"))
    state = {k: v.clone() for k, v in source.state_dict().items()}
    names = [k for k in state if "distance_embedding" in k]
    assert names == [f"encoder.layer.{i}.attention.self.distance_embedding.weight" for i in (0, 1)]
    assert state[names[0]].shape == (2 * 12 - 1, 8)
    source.config.save_pretrained(tmp_path)
    save_file(state, tmp_path / "model.safetensors")
    model = BertModel.from_pretrained(tmp_path)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, state[name], rtol=0, atol=0)
    model.save_pretrained(tmp_path / "again")
    saved = load_file(tmp_path / "again" / "model.safetensors")
    assert sorted(saved) == sorted(state)
    composite = EncoderDecoderModel.from_encoder_decoder_pretrained(tmp_path, tmp_path)
    new = composite.newly_initialized
    assert new and not any("distance_embedding" in k for k in new)  # all loaded
    layer = composite.decoder.bert.encoder.layer[1].attention.self
    torch.testing.assert_close(layer.distance_embedding.weight, state[names[1]], rtol=0, atol=0)


def test_unknown_position_embedding_type_is_refused():
    with pytest.raises(ValueError, match="relative_key_query"):
        BertModel(BertConfig(**SMALL, position_embedding_type="rotary"))
