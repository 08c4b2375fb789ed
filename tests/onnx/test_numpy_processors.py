"""The core's numpy logits processors against transformers' processors, live, on the same random
scores (the PyTorch side runs the same code over other arrays), and the numpy greedy / beam search
against the PyTorch side's over the same step function."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import generation as hf

from warmstart.generation import numpy_processors as P
from warmstart.generation import numpy_search
from warmstart.torch.generation import search as TS

SETTINGS = {
    "sequence_bias": {"biases": [[[5], 1.5], [[3, 4], -2.0], [[7, 8, 9], 0.5]]},
    "encoder_repetition_penalty": {"penalty": 1.3},
    "repetition_penalty": {"penalty": 1.7},
    "no_repeat_ngram": {"ngram_size": 2},
    "encoder_no_repeat_ngram": {"ngram_size": 2},
    "bad_words": {"bad_words_ids": [[4], [3, 9]], "eos_token_id": 2},
    "min_length": {"length": 9, "eos_token_id": [2, 3]},
    "min_new_tokens": {"prompt_length": 1, "count": 9, "eos_token_id": 2},
    "forced_bos": {"token_id": 6},
    "forced_eos": {"max_length": 7, "eos_token_id": 2},
    "remove_invalid_values": {},
    "exponential_decay_length_penalty": {
        "start": 1,
        "factor": 1.5,
        "prompt_length": 1,
        "eos_token_id": 2,
    },
    "suppress_tokens": {"token_ids": [1, 5]},
    "begin_suppress_tokens": {"token_ids": [1, 5], "begin_index": 6},
    "temperature": {"value": 0.7},
    "top_h": {"h": 0.5},
    "top_k": {"k": 5, "min_tokens_to_keep": 1},
    "top_p": {"p": 0.8, "min_tokens_to_keep": 2},
    "min_p": {"p": 0.1, "min_tokens_to_keep": 1},
    "typical_p": {"mass": 0.7, "min_tokens_to_keep": 1},
    "epsilon_cutoff": {"epsilon": 0.02, "min_tokens_to_keep": 1},
    "eta_cutoff": {"epsilon": 0.02, "min_tokens_to_keep": 1},
    "renormalize": {},
}


def test_every_processor_is_covered():
    assert set(SETTINGS) == set(P.FUNCTIONS) == set(HF)


HF = {  # name -> transformers' processor for the settings (encoder ids as torch)
    "sequence_bias": lambda s: hf.SequenceBiasLogitsProcessor(s["biases"]),
    "encoder_repetition_penalty": lambda s: hf.EncoderRepetitionPenaltyLogitsProcessor(
        s["penalty"], s["encoder_input_ids"]
    ),
    "repetition_penalty": lambda s: hf.RepetitionPenaltyLogitsProcessor(s["penalty"]),
    "no_repeat_ngram": lambda s: hf.NoRepeatNGramLogitsProcessor(s["ngram_size"]),
    "encoder_no_repeat_ngram": lambda s: hf.EncoderNoRepeatNGramLogitsProcessor(
        s["ngram_size"], s["encoder_input_ids"]
    ),
    "bad_words": lambda s: hf.NoBadWordsLogitsProcessor(s["bad_words_ids"], s["eos_token_id"]),
    "min_length": lambda s: hf.MinLengthLogitsProcessor(s["length"], s["eos_token_id"]),
    "min_new_tokens": lambda s: hf.MinNewTokensLengthLogitsProcessor(
        s["prompt_length"], s["count"], s["eos_token_id"]
    ),
    "forced_bos": lambda s: hf.ForcedBOSTokenLogitsProcessor(s["token_id"]),
    "forced_eos": lambda s: hf.ForcedEOSTokenLogitsProcessor(s["max_length"], s["eos_token_id"]),
    "remove_invalid_values": lambda s: hf.InfNanRemoveLogitsProcessor(),
    "exponential_decay_length_penalty": lambda s: hf.ExponentialDecayLengthPenalty(
        (s["start"], s["factor"]), s["eos_token_id"], s["prompt_length"]
    ),
    "suppress_tokens": lambda s: hf.SuppressTokensLogitsProcessor(s["token_ids"]),
    "begin_suppress_tokens": lambda s: hf.SuppressTokensAtBeginLogitsProcessor(
        s["token_ids"], s["begin_index"]
    ),
    "temperature": lambda s: hf.TemperatureLogitsWarper(s["value"]),
    "top_h": lambda s: hf.TopHLogitsWarper(s["h"]),
    "top_k": lambda s: hf.TopKLogitsWarper(s["k"], min_tokens_to_keep=s["min_tokens_to_keep"]),
    "top_p": lambda s: hf.TopPLogitsWarper(s["p"], min_tokens_to_keep=s["min_tokens_to_keep"]),
    "min_p": lambda s: hf.MinPLogitsWarper(s["p"], min_tokens_to_keep=s["min_tokens_to_keep"]),
    "typical_p": lambda s: hf.TypicalLogitsWarper(
        s["mass"], min_tokens_to_keep=s["min_tokens_to_keep"]
    ),
    "epsilon_cutoff": lambda s: hf.EpsilonLogitsWarper(
        s["epsilon"], min_tokens_to_keep=s["min_tokens_to_keep"]
    ),
    "eta_cutoff": lambda s: hf.EtaLogitsWarper(
        s["epsilon"], min_tokens_to_keep=s["min_tokens_to_keep"]
    ),
    "renormalize": lambda s: hf.LogitNormalization(),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
@pytest.mark.parametrize("length", [1, 6])
def test_processor_equals_transformers(name, length):
    g = np.random.default_rng(0)
    ids = g.integers(0, 12, (4, length))
    ids[:, -2:] = [3, 4] if length > 1 else ids[:, -2:]  # a prefix that the biases match
    scores = (g.standard_normal((4, 20)) * 3).astype(np.float32)
    scores[0, 3] = np.nan if name == "remove_invalid_values" else scores[0, 3]
    settings = dict(SETTINGS[name])
    if name.startswith("encoder_"):
        settings["encoder_input_ids"] = g.integers(0, 12, (4, 7))
    torch_settings = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in settings.items()
    }
    want = HF[name](torch_settings)(torch.from_numpy(ids), torch.from_numpy(scores.copy()))
    got = P.FUNCTIONS[name](ids, scores, **settings)
    assert got.dtype == np.float32, got.dtype
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)


def _step_pair(vocab: int = 30):
    """The same random "model" for both searches: logits from the last token and the length."""
    table = np.random.default_rng(2).standard_normal((vocab, 64, vocab)).astype(np.float32) * 3

    def np_step(tokens, cache):
        cache = cache + tokens.shape[1]
        return table[tokens[:, -1], cache % 64], cache

    def torch_step(tokens, cache):
        logits, cache = np_step(tokens.numpy(), cache)
        return torch.from_numpy(logits), cache

    return np_step, torch_step


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"num_beams": 4},
        {"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.5},
        {"num_beams": 4, "early_stopping": True, "no_repeat_ngram_size": 2},
        {"repetition_penalty": 1.5, "min_new_tokens": 3},
    ],
)
def test_searches_equal_pytorch(options):
    np_step, torch_step = _step_pair()
    start = np.array([[1], [2], [5]])
    kw = dict(max_new_tokens=10, eos_token_id=4, pad_token_id=0, **options)
    got = numpy_search.generate(np_step, lambda c, i: c, 0, start, **kw)
    want = TS.generate(torch_step, lambda c, i: c, 0, torch.from_numpy(start), **kw).sequences
    assert np.array_equal(got, want.numpy()), f"\n{got}\n{want}"
