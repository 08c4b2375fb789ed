"""The numpy search's top-k, which beam search runs over K * V scores per input."""

from __future__ import annotations

import numpy as np
import pytest

from warmstart.generation.numpy_search import GROUP, _top


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
