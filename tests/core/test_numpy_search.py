"""The numpy search: its top-k over K * V scores per input, and beam search leaving inputs out
once their hypotheses are final."""

from __future__ import annotations

import numpy as np
import pytest

from warmstart.generation import GenerationConfig
from warmstart.generation import numpy_processors as P
from warmstart.generation.numpy_search import GROUP, _top, beam_search
from warmstart.generation.plan import make_plan


@pytest.mark.parametrize("M", [5, 300, 16 * 8 * GROUP, 4 * 30522 + 3])
@pytest.mark.parametrize("k", [1, 4, 8])
def test_top_equals_a_full_sort(M, k):
    rng = np.random.default_rng(M + k)
    x = rng.standard_normal((6, M)).astype(np.float32)
    x[0, rng.integers(0, M, M // 3)] = -np.inf  # masked tokens
    x[1, -1] = 50.0  # the best in the positions left over after the groups
    x[2, :k] = np.arange(min(k, M)) + 60.0  # the best all in the first group
    want = np.argsort(-x, axis=1, kind="stable")[:, : min(k, M)]
    assert np.array_equal(_top(x, k), want)


def _table_step(vocab: int = 30):
    """A random "model": logits from the last token and the length; records the rows it ran."""
    table = np.random.default_rng(2).standard_normal((vocab, 64, vocab)).astype(np.float32) * 3
    rows: list[int] = []

    def step(tokens, length):
        rows.append(tokens.shape[0])
        length = length + tokens.shape[1]
        return table[tokens[:, -1], length % 64], length

    return step, rows


@pytest.mark.parametrize(
    "options, drops",
    [
        ({"num_beams": 4}, False),
        ({"num_beams": 3, "num_return_sequences": 2, "length_penalty": 0.5}, True),
        ({"num_beams": 4, "early_stopping": True, "no_repeat_ngram_size": 2}, False),
        ({"num_beams": 2, "early_stopping": "never", "min_new_tokens": 2}, False),
    ],
)
def test_beam_search_drops_finished_inputs_with_the_same_result(options, drops):
    start = np.arange(1, 9)[:, None] % 7 + 1  # 8 inputs
    config = GenerationConfig(max_new_tokens=14, eos_token_id=4, pad_token_id=0, **options)
    plan = make_plan(config, 1)
    K = plan.config.num_beams
    results, ran = [], []
    for shrink in (True, False):
        step, rows = _table_step()
        ids = np.repeat(start, K, axis=0)
        processors = P.build(plan.processors, None)
        out = beam_search(step, lambda c, i: c, 0, ids, plan.config, processors, None, shrink)
        results.append(out)
        ran.append(rows)
    assert np.array_equal(results[0], results[1])
    assert ran[1] == [8 * K] * len(ran[1])
    assert len(ran[0]) <= len(ran[1])
    assert (sum(ran[0]) < sum(ran[1])) == drops  # fewer rows, the same tokens
