"""Prompt lookup decoding: the guesses, and greedy search's tokens from fewer decoder passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from warmstart.torch.generation import GenerationConfig, Lookahead, greedy, greedy_lookup
from warmstart.torch.generation.lookup import guess

V = 12


def ids(*tokens: int) -> torch.Tensor:
    return torch.tensor(tokens)


@pytest.mark.parametrize(
    "text, ngram, count, expected",
    [
        ((5, 6, 7, 8, 9, 6, 7), 2, 3, (8, 9, 6)),  # the 2-gram (6, 7) occurs earlier
        ((5, 6, 7, 8, 9, 6, 7), 2, 1, (8,)),
        ((1, 7, 2, 6, 7, 3, 4, 7), 2, 2, (2, 6)),  # no earlier (4, 7): the 1-gram 7, first found
        ((1, 7, 2, 6, 7, 3, 6, 7), 2, 2, (3, 6)),  # the longer match wins over an earlier 7
        ((1, 2, 3, 4), 2, 5, ()),  # nothing matches
        ((4, 4, 4), 2, 5, (4,)),  # overlapping, but never the last n-gram itself
        ((4,), 2, 5, ()),
        ((5, 6, 9, 5, 6), 2, 5, (9, 5, 6)),  # guesses run to the end of the text
    ],
)
def test_guess_follows_the_longest_earlier_ngram(text, ngram, count, expected):
    assert guess(ids(*text), ngram, count).tolist() == list(expected)


class Counter:
    """A toy decoder whose next token depends on every token fed before it (so keeping a refused
    guess in the cache changes the output): mostly ``(last + 1) % V``, which the source spells
    out, so guesses are often right and sometimes wrong. The cache is the tokens fed, in order."""

    def __init__(self) -> None:
        self.passes = 0

    def logits(self, history: torch.Tensor) -> torch.Tensor:
        last, total = int(history[-1]), int(history.sum())
        best = (last + 1) % V if total % 5 else (last + 4) % V
        out = torch.linspace(0, 1, V)  # distinct runners-up, for the processors to reorder
        out[best] = 3.0
        return out

    def step(self, tokens: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, Any]:
        self.passes += 1
        cache = torch.cat([cache, tokens[0]])
        return self.logits(cache)[None], cache

    def step_all(self, tokens: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, Any]:
        self.passes += 1
        start = cache.shape[0]
        cache = torch.cat([cache, tokens[0]])
        rows = [self.logits(cache[: start + i + 1]) for i in range(tokens.shape[1])]
        return torch.stack(rows)[None], cache

    @staticmethod
    def rewind(cache: torch.Tensor, n: int) -> torch.Tensor:
        return cache[: cache.shape[0] - n]


SOURCE = torch.arange(1, 11)[None] % V  # 1 2 ... 10: the guesses "last + 1"

OPTIONS = [
    dict(),
    dict(eos_token_id=9),
    dict(eos_token_id=[9, 4], min_new_tokens=6),
    dict(repetition_penalty=1.5),
    dict(no_repeat_ngram_size=2),
    dict(max_matching_ngram_size=1),
    dict(max_new_tokens=3),
]


@pytest.mark.parametrize("count", [1, 2, 5, 10])
@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_lookup_gives_greedy_tokens_and_scores_in_fewer_passes(count, options):
    settings = dict(max_new_tokens=25, output_scores=True, output_logits=True)
    config = GenerationConfig(**{**settings, **options})
    start = torch.tensor([[1]])
    plain, fast = Counter(), Counter()
    expected = greedy(plain.step, start.new_empty(0), start, config)
    config.prompt_lookup_num_tokens = count
    lookahead = Lookahead(fast.step_all, fast.rewind, SOURCE)
    streamed: list[torch.Tensor] = []
    out = greedy_lookup(
        fast.step, lookahead, start.new_empty(0), start, config, streamer=streamed.append
    )
    assert out.sequences.tolist() == expected.sequences.tolist()
    assert len(out.scores) == len(expected.scores) == len(out.logits)
    for mine, theirs in zip(out.scores + out.logits, expected.scores + expected.logits):
        torch.testing.assert_close(mine, theirs)
    assert torch.cat(streamed[:-1]).tolist() == out.sequences[0, 1:].tolist()
    if out.sequences.shape[1] > 8:
        assert fast.passes < plain.passes  # guesses were kept


def test_refused_guesses_are_rewound_from_the_cache():
    config = GenerationConfig(max_new_tokens=20, prompt_lookup_num_tokens=4)
    start, toy = torch.tensor([[1]]), Counter()
    rewound: list[int] = []

    def rewind(cache: torch.Tensor, n: int) -> torch.Tensor:
        rewound.append(n)
        return toy.rewind(cache, n)

    out = greedy_lookup(
        toy.step, Lookahead(toy.step_all, rewind, SOURCE), start[0, :0], start, config
    )
    assert (
        rewound
        and out.sequences.tolist()
        == greedy(Counter().step, start[0, :0], start, config).sequences.tolist()
    )


def test_width_caps_the_tokens_of_a_pass():
    fed: list[int] = []
    toy = Counter()

    def step_all(tokens, cache):
        fed.append(tokens.shape[1])
        return toy.step_all(tokens, cache)

    config = GenerationConfig(max_new_tokens=20, prompt_lookup_num_tokens=10)
    start = torch.tensor([[1]])
    greedy_lookup(
        toy.step, Lookahead(step_all, toy.rewind, SOURCE, width=3), start[0, :0], start, config
    )
    assert fed and max(fed) == 3


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(num_beams=2), "beam search"),
        (dict(do_sample=True), "sampling"),
        (dict(prompt_lookup_num_tokens=0), "prompt_lookup_num_tokens"),
        (dict(prompt_lookup_num_tokens="3"), "prompt_lookup_num_tokens"),
        (dict(max_matching_ngram_size=0), "max_matching_ngram_size"),
    ],
)
def test_unsupported_lookups_are_refused(options, message):
    from warmstart.torch.generation import generate

    toy = Counter()
    kw = {"prompt_lookup_num_tokens": 3, **options}
    start = torch.tensor([[1]])
    lookahead = Lookahead(toy.step_all, toy.rewind)
    with pytest.raises(ValueError, match=message):
        generate(toy.step, lambda c, i: c, start[0, :0], start, lookahead=lookahead, **kw)


def test_lookup_needs_one_row_and_a_lookahead():
    from warmstart.torch.generation import generate, stream

    toy = Counter()
    two = torch.tensor([[1], [1]])
    lookahead = Lookahead(toy.step_all, toy.rewind)
    with pytest.raises(ValueError, match="2 rows"):
        generate(
            toy.step,
            lambda c, i: c,
            two[0, :0],
            two,
            lookahead=lookahead,
            prompt_lookup_num_tokens=3,
        )
    one = two[:1]
    with pytest.raises(ValueError, match="lookahead"):
        generate(toy.step, lambda c, i: c, one[0, :0], one, prompt_lookup_num_tokens=3)
    with pytest.raises(ValueError, match="lookahead"):
        next(stream(toy.step, lambda c, i: c, one[0, :0], one, prompt_lookup_num_tokens=3))
