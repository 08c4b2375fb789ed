"""The XLA rooms' beam step and processors (warmstart.generation.traced_beam, traced_processors)
run over a numpy namespace give the numpy search's hypotheses and the numpy processors' scores
(both checked against the PyTorch side) on the same logits."""

from __future__ import annotations

import numpy as np
import pytest

from warmstart.generation import (
    GenerationConfig,
    numpy_processors,
    numpy_search,
    traced_beam,
    traced_processors,
)
from warmstart.generation.plan import make_plan


def _top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, index, -1), index


NP = traced_beam.Ops(
    top_k=_top_k,
    take=lambda x, i: np.take_along_axis(x, i.reshape(i.shape + (1,) * (x.ndim - 2)), axis=1),
    where=np.where,
    concat=np.concatenate,
    reshape=np.reshape,
    full=np.full,
    all=np.all,
    any=np.any,
    min=np.min,
    arange=np.arange,
    float32=np.float32,
    asarray=np.asarray,
    argsort=lambda x: np.argsort(x, axis=-1, kind="stable"),
    cumsum=lambda x: np.cumsum(x, axis=-1),
    softmax=lambda x: np.exp(x - _logsumexp(x)),
    mark=lambda ids, V: (ids[:, :, None] == np.arange(V)).any(1),
)
V, EOS = 12, 3


def _table(seed: int) -> np.ndarray:
    """Next-token logits (V, V) keyed by the last token: a deterministic toy decoder."""
    table = np.random.default_rng(seed).normal(scale=2.0, size=(V, V))
    table[:, EOS] += 1.5  # eos often among the best: hypotheses finish at many lengths
    return table.astype(np.float32)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(-1, keepdims=True)
    return top + np.log(np.exp(x - top).sum(-1, keepdims=True))


def _traced(table, prompt, config):
    B = prompt.shape[0] // config.num_beams
    s = traced_beam.start(NP, prompt.astype(np.int32), B, config)
    while not s["stop"]:
        last = s["running"][:, :, s["length"] - 1].reshape(-1)
        log_probs = table[last] - _logsumexp(table[last])
        s, beams = traced_beam.step(NP, s, log_probs, config, prompt.shape[1])
        assert beams.shape == (B, config.num_beams) and (beams < config.num_beams).all()
    return traced_beam.results(NP, s, config.num_return_sequences)


@pytest.mark.parametrize("early_stopping", [True, False, "never"])
@pytest.mark.parametrize("length_penalty", [1.0, 0.4, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_traced_step_equals_the_numpy_search(early_stopping, length_penalty, seed):
    config = GenerationConfig(
        num_beams=3,
        max_length=12,
        eos_token_id=EOS,
        pad_token_id=0,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
        num_return_sequences=2,
    )
    table = _table(seed)
    prompt = np.repeat(np.array([[1, 5], [1, 7]]), 3, axis=0)  # (B * K, P), B = 2
    step = lambda tokens, cache: (table[tokens[:, -1]], cache)  # noqa: E731
    expected = numpy_search.beam_search(step, lambda c, i: c, None, prompt, config, [])
    seqs, lengths, scores = _traced(table, prompt, config)
    width = expected.shape[1]
    np.testing.assert_array_equal(seqs[:, :width], expected)
    assert lengths.max() == width and (seqs[:, width:] == EOS).all()  # beam_fill: pad 0 -> eos
    assert (np.diff(scores.reshape(2, 2), axis=1) <= 0).all()  # best first


PLANS = [  # make_plan options; each plan lists its processors by name, bound by the core
    dict(repetition_penalty=1.7, no_repeat_ngram_size=1),
    dict(no_repeat_ngram_size=2, min_length=6),
    dict(no_repeat_ngram_size=3, min_new_tokens=3, forced_eos_token_id=[3, 9]),
    dict(forced_bos_token_id=5, suppress_tokens=[0, 7], remove_invalid_values=True),
    dict(begin_suppress_tokens=[2, 4], repetition_penalty=0.8),
    dict(do_sample=True, temperature=0.6, top_k=4, top_p=0.7),
    dict(do_sample=True, top_p=0.3, top_k=0),
]


@pytest.mark.parametrize("options", PLANS, ids=lambda o: "-".join(o))
@pytest.mark.parametrize("cur", [1, 2, 5, 9])
def test_traced_processors_equal_the_numpy_ones(options, cur):
    plan = make_plan(None, 1, side="tf", eos_token_id=3, max_length=10, **options)
    rng = np.random.default_rng(cur)
    seqs = rng.integers(0, 6, (4, 12))  # a small alphabet: repeats and n-gram matches happen
    scores = rng.normal(size=(4, 13)).astype(np.float32)
    scores[0, :3] = [np.nan, np.inf, -np.inf]
    expected = numpy_processors.apply(
        numpy_processors.build(plan.processors, None), seqs[:, :cur], scores.copy()
    )
    controls = traced_processors.bind(NP, plan)
    got = traced_processors.apply(controls, seqs, np.int32(cur), scores.copy())
    np.testing.assert_allclose(got, expected, rtol=1e-6)
