"""Greedy search, sampling and beam search over numpy arrays, as free functions over a step
callable, for rooms that run without a framework (:mod:`warmstart.onnx`).

The same contract and the same arithmetic as the PyTorch side's search
(:mod:`warmstart.torch.generation.search`, itself transformers' ``generate``)::

    step(tokens: int64 (N, t), cache) -> (float32 logits (N, V), cache)
    reorder(cache, index: int64 (N',)) -> cache      # expand inputs to beams, follow beams,
                                                     # drop the rows of inputs beam search ended

A step may return :class:`Scores` instead of the logits: the logits with their log-softmax, which
beam search then takes as it is (a runtime computes it faster than numpy).

:func:`generate` follows the core's plan (:func:`warmstart.generation.plan.make_plan`): lengths,
the processors by name (bound to :mod:`.numpy_processors`), the search. Greedy and beam search give
the PyTorch side's tokens on the same logits; sampling draws from a ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from time import monotonic
from typing import Any, NamedTuple

import numpy as np

from . import eager_beam
from . import numpy_processors as P
from .config import GenerationConfig
from .numpy_processors import GROUP, _top  # noqa: F401  (numpy_search._top, its group size)
from .plan import make_plan
from .settings import pad_id


class Scores(NamedTuple):
    """What a step may return in place of the logits: both (N, V) float32."""

    logits: np.ndarray
    log_probs: np.ndarray


Step = Callable[[np.ndarray, Any], tuple[np.ndarray | Scores, Any]]
Reorder = Callable[[Any, np.ndarray], Any]


def generate(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: np.ndarray,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    streamer: Callable[[np.ndarray | None], None] | None = None,
    **options: Any,
) -> np.ndarray:
    """Generate continuations of ``start_ids`` (B, P): beam search, sampling or greedy search.

    Args:
        step, reorder: the model's callables (see the module docstring).
        cache: the cache for the B input rows.
        start_ids: (B, P) decoder prompts, usually the start token.
        config: base settings; ``options`` override them (not modified).
        encoder_input_ids: (B, S), for the encoder n-gram / repetition controls.
        rng: random source for sampling (default: a fresh unseeded one).
        streamer: greedy search and sampling: called with each step's tokens (N,), then None.

    Returns:
        (B * rows, L) int64 sequences, prompt included, padded as the PyTorch side pads them.
    """
    loop = _start(step, reorder, cache, start_ids, config, encoder_input_ids, rng, options)
    if isinstance(loop, np.ndarray):
        if streamer is not None:
            raise ValueError("A streamer cannot follow beam search; set `num_beams=1` to stream.")
        return loop
    try:
        while True:
            tokens = next(loop)
            if streamer is not None:
                streamer(tokens)
    except StopIteration as done:
        if streamer is not None:
            streamer(None)
        return done.value


def stream(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: np.ndarray,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> Generator[np.ndarray, None, np.ndarray]:
    """:func:`generate` for greedy search and sampling as an iterator over each step's tokens
    (N,); the sequences are the generator's return value."""
    loop = _start(step, reorder, cache, start_ids, config, encoder_input_ids, rng, options, True)
    return (yield from loop)


def _start(
    step, reorder, cache, start_ids, config, encoder_input_ids, rng, options, streaming=False
):
    start_ids = np.asarray(start_ids, dtype=np.int64)
    plan = make_plan(config, start_ids.shape[1], **options) if start_ids.ndim == 2 else None
    if plan is None or start_ids.shape[1] == 0:
        raise ValueError(
            f"`start_ids` must be (batch, prompt_length >= 1) token ids, not {start_ids.shape}."
        )
    if plan.search == "lookup":
        raise ValueError(
            "prompt_lookup_num_tokens is not supported by the ONNX runtime; leave it unset."
        )
    if streaming and plan.search == "beam":
        raise ValueError("Beam search cannot be streamed; set `num_beams=1` to stream.")
    processors = P.build(plan.processors, encoder_input_ids)
    times = plan.rows_per_input
    if times > 1:
        index = np.repeat(np.arange(start_ids.shape[0]), times)
        start_ids, cache = start_ids[index], reorder(cache, index)
    c = plan.config
    if plan.search == "beam":
        by_input = any(name.startswith("encoder_") for name, _ in plan.processors)
        return beam_search(step, reorder, cache, start_ids, c, processors, rng, not by_input)
    rng = rng if rng is not None else np.random.default_rng()
    return _token_loop(step, cache, start_ids, c, processors, plan.search == "sample", rng)


def _sample(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row drawn from softmax(scores) (N, V)."""
    probs = P.softmax(scores.astype(np.float64))
    u = rng.random((scores.shape[0], 1))
    return np.minimum((probs.cumsum(-1) < u).sum(-1), scores.shape[-1] - 1)


def _token_loop(step, cache, input_ids, config, processors, sampling, rng):
    """Greedy search or sampling; yields each step's tokens (N,), returns the sequences."""
    eos = config.eos_ids()
    eos = None if eos is None else np.asarray(eos)
    pad = pad_id(config)
    if eos is not None and pad is None:
        raise ValueError("Set pad_token_id (or eos_token_id) to pad rows that end early.")
    unfinished = np.ones(input_ids.shape[0], dtype=bool)
    deadline = None if config.max_time is None else monotonic() + config.max_time
    new_tokens = input_ids
    while True:
        logits, cache = step(new_tokens, cache)
        logits = logits.logits if isinstance(logits, Scores) else logits
        scores = P.apply(processors, input_ids, logits.astype(np.float32))
        tokens = _sample(scores, rng) if sampling else scores.argmax(-1)
        if eos is not None:
            tokens = np.where(unfinished, tokens, pad)
            unfinished &= ~np.isin(tokens, eos)
        input_ids = np.concatenate([input_ids, tokens[:, None]], axis=1)
        yield tokens
        if input_ids.shape[1] >= config.max_length or not unfinished.any():
            break
        if deadline is not None and monotonic() > deadline:
            break
        new_tokens = tokens[:, None]
    return input_ids


# ---------------------------------------------------------------------------------- beam search


def beam_search(
    step, reorder, cache, input_ids, config, processors, rng=None, shrink=True
) -> np.ndarray:
    """Beam search (beam sampling with ``do_sample``) as the PyTorch side runs it: the core's
    (:mod:`.eager_beam`) over numpy.

    With ``shrink`` (not with sampling), an input whose hypotheses can no longer change leaves the
    batch: later steps run the inputs still searching only (``reorder`` gets their rows alone, an
    input's beams still adjacent), with the same results.

    Returns:
        (B * num_return_sequences, L) the best hypotheses of each input, best first.
    """

    def log_probs(output: np.ndarray | Scores, running: np.ndarray) -> np.ndarray:
        if isinstance(output, Scores):
            return P.apply(processors, running, output.log_probs)
        return P.apply(processors, running, P.log_softmax(output.astype(np.float32)))

    rng = rng if rng is not None else np.random.default_rng()
    shrink = shrink and not config.do_sample
    s = eager_beam.search(
        P.NUMPY, step, reorder, cache, input_ids, config, log_probs, rng=rng, shrink=shrink
    )
    return eager_beam.results(s, config.num_return_sequences)[0]
