"""Greedy search, sampling and beam search as free functions over a model's step callable.

The model side provides two callables; the cache is opaque here::

    step(tokens: LongTensor (N, t), cache) -> tuple[FloatTensor (N, V), cache]
        Feed the t newest decoder tokens of each row (the whole prompt on the first call, then
        one token) and return the float32 logits of the last position, with the updated cache.
    reorder(cache, index: LongTensor (N',)) -> cache
        Select rows of the cache, in the order of ``index``, duplicating rows that repeat. Called
        once at the start to expand each input to its beams / return sequences (``index`` =
        ``[0, 0, ..., 1, 1, ...]``), then after every beam-search step to follow the beams.

:func:`generate` is the entry point: it merges options into a :class:`GenerationConfig`,
validates, expands the rows and dispatches to :func:`greedy`, :func:`sample` or
:func:`beam_search`. The result matches transformers' ``generate`` token for token: sequences
start with the prompt (the start token) and finished rows are padded as transformers pads them.
:func:`stream` is the same for greedy search and sampling as an iterator over the new tokens.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from time import monotonic
from typing import Any

import torch
from torch import Tensor

from ...generation import eager_beam
from ...generation.config import GenerationConfig
from ...generation.plan import make_plan, resolve_lengths
from ...generation.settings import pad_id, start_token
from ...outputs import ModelOutput
from . import lookup
from .processors import TORCH, Processor, apply_processors, build_processors

Step = Callable[[Tensor, Any], tuple[Tensor, Any]]
Reorder = Callable[[Any, Tensor], Any]
Streamer = Callable[[Tensor | None], None]
"""Called with the new token of every row, ``(N,)``, after each step, then once with ``None``."""


@dataclass
class GenerateOutput(ModelOutput):
    """What :func:`generate` returns; the fields in transformers' order.

    Attributes:
        sequences: ``(B * num_return_sequences, L)``, prompt included; rows that finished early are
            padded (greedy/sampling: ``pad_token_id``, else the first eos id; beam search: see
            :func:`beam_search`).
        sequences_scores: beam search with ``output_scores``, ``(B * num_return_sequences,)``: the
            final, length-penalised score of each returned sequence.
        scores: with ``output_scores``, one ``(N, V)`` tensor per step: the processed scores the
            token was chosen from (beam search: processed log-probabilities of every beam).
        logits: with ``output_logits``, one ``(N, V)`` tensor per step: the model's raw logits
            (beam search: of every live beam, in the order of ``scores``).
        beam_indices: beam search only, ``(B * num_return_sequences, L - P)``: for each returned
            sequence and generated step, the row of ``scores`` / ``logits`` its token came from
            (-1 past its end).
        encoder_attentions, encoder_hidden_states: with ``output_attentions`` /
            ``output_hidden_states`` (an encoder-decoder model's ``generate`` sets them), per
            layer: (B, H, S, S) / (B, S, C), embeddings first.
        decoder_attentions, cross_attentions, decoder_hidden_states: likewise, per step a tuple
            over layers: (N, H, t, past + t) / (N, H, t, S) / (N, t, C).
    """

    sequences: Tensor
    sequences_scores: Tensor | None = None
    scores: tuple[Tensor, ...] | None = None
    logits: tuple[Tensor, ...] | None = None
    beam_indices: Tensor | None = None
    encoder_attentions: tuple[Tensor, ...] | None = None
    encoder_hidden_states: tuple[Tensor, ...] | None = None
    decoder_attentions: tuple[tuple[Tensor, ...], ...] | None = None
    cross_attentions: tuple[tuple[Tensor, ...], ...] | None = None
    decoder_hidden_states: tuple[tuple[Tensor, ...], ...] | None = None


# ----------------------------------------------------------------------------------- preparation


def prepare(
    config: GenerationConfig | None,
    start_ids: Tensor,
    *,
    encoder_input_ids: Tensor | None = None,
    **options: Any,
) -> tuple[GenerationConfig, list[Processor]]:
    """Merge options into a copy of ``config``, validate, resolve lengths and build processors:
    :func:`warmstart.generation.plan.make_plan`, with the processors bound to this side's
    functions.

    In the returned config ``max_length`` and ``min_length`` are totals that include the prompt
    (``max_new_tokens`` / ``min_new_tokens`` / the default resolved, as transformers does).

    Args:
        config: base settings (default: :class:`GenerationConfig()`); not modified.
        start_ids: ``(B, P)`` decoder prompt, usually ``(B, 1)`` start tokens.
        encoder_input_ids: ``(B, S)`` encoder input ids, for ``encoder_no_repeat_ngram_size``.
        options: settings that override those of ``config`` (``max_new_tokens=5``, ...).

    Returns:
        The resolved config and the ordered logits processors.

    Raises:
        ValueError: an unknown option, an invalid setting, a transformers option this package
            does not implement, or inputs of the wrong shape.
    """
    _check_inputs(start_ids, encoder_input_ids)
    plan = make_plan(config, start_ids.shape[1], **options)
    processors = build_processors(
        plan.config,
        prompt_length=plan.prompt_length,
        encoder_input_ids=encoder_input_ids,
        specs=plan.processors,
    )
    return plan.config, processors


def _resolved(config: GenerationConfig, prompt: int) -> GenerationConfig:
    """``config`` with total lengths: itself when :func:`prepare` resolved it, else a copy."""
    if config.max_length == config.max_total_length(prompt) and (
        config.min_new_tokens is None or config.min_length == config.min_new_tokens + prompt
    ):
        return config
    return resolve_lengths(copy.deepcopy(config), prompt)


def _check_inputs(start_ids: Tensor, encoder_input_ids: Tensor | None) -> None:
    if start_ids.dim() != 2 or start_ids.shape[1] == 0 or start_ids.is_floating_point():
        raise ValueError(
            f"`start_ids` must be a (batch, prompt_length >= 1) tensor of token ids, but has shape "
            f"{tuple(start_ids.shape)} and dtype {start_ids.dtype}; for an encoder-decoder model "
            "pass the decoder start tokens, e.g. start_ids_for(config, batch_size)."
        )
    batch = start_ids.shape[0]
    if encoder_input_ids is not None and (
        encoder_input_ids.dim() != 2 or encoder_input_ids.shape[0] != batch
    ):
        raise ValueError(
            f"`encoder_input_ids` must be ({batch}, source_length), one row per input, but has "
            f"shape {tuple(encoder_input_ids.shape)}."
        )


def start_ids_for(
    config: GenerationConfig, batch_size: int, device: torch.device | str | None = None
) -> Tensor:
    """``(batch_size, 1)`` decoder start tokens: ``decoder_start_token_id``, else ``bos_token_id``.

    Args:
        config: the generation settings.
        batch_size: the number of rows.
        device: where to put the tensor.

    Returns:
        A LongTensor ``(batch_size, 1)``.

    Raises:
        ValueError: neither is set.
    """
    return torch.full((batch_size, 1), start_token(config), dtype=torch.long, device=device)


def expand_rows(reorder: Reorder, cache: Any, start_ids: Tensor, times: int) -> tuple[Tensor, Any]:
    """Repeat each row ``times`` times in place (``[a, b] -> [a, a, b, b]``), ids and cache.

    Args:
        reorder: the model's cache row selector (not called when ``times`` is 1).
        cache: the cache, one row per row of ``start_ids``.
        start_ids: ``(B, P)`` prompts.
        times: copies of each row.

    Returns:
        ``(B * times, P)`` prompts and the expanded cache.
    """
    if times == 1:
        return start_ids, cache
    index = torch.arange(start_ids.shape[0], device=start_ids.device).repeat_interleave(times)
    return start_ids[index], reorder(cache, index)


def _eos_tensor(config: GenerationConfig, device: torch.device) -> Tensor | None:
    eos = config.eos_ids()
    return None if eos is None else torch.tensor(eos, dtype=torch.long, device=device)


# ------------------------------------------------------------------------------- entry points


def generate(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: Tensor,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: Tensor | None = None,
    generator: torch.Generator | None = None,
    streamer: Streamer | None = None,
    select: Reorder | None = None,
    lookahead: lookup.Lookahead | None = None,
    **options: Any,
) -> GenerateOutput:
    """Generate continuations of ``start_ids`` with the search ``config`` asks for.

    ``num_beams`` > 1: beam search (beam sampling with ``do_sample``); else sampling with
    ``do_sample``, else greedy search (with ``prompt_lookup_num_tokens``: prompt lookup decoding,
    see :func:`greedy_lookup`). ``return_dict_in_generate`` is not consulted: the result is
    always a :class:`GenerateOutput`.

    Args:
        step: the model's step callable (see the module docstring).
        reorder: the model's cache row selector (see the module docstring).
        cache: the cache for the ``B`` input rows, e.g. holding the encoder output.
        start_ids: ``(B, P)`` decoder prompt, usually ``(B, 1)`` start tokens.
        config: base settings; ``options`` override them. Not modified.
        encoder_input_ids: ``(B, S)`` encoder input ids; needed for
            ``encoder_no_repeat_ngram_size``.
        generator: random source for sampling (default: torch's global one).
        streamer: greedy search and sampling only: called after each step with the new token of
            every row, ``(N,)`` (pad for finished rows), and once at the end with ``None``; or
            an object with transformers' streamer methods (``TextStreamer``): ``put`` gets the
            prompt, then each step's tokens, and ``end`` is called at the end.
        select: like ``reorder`` but selecting rows of every part of the cache; given, greedy
            search drops finished rows from the batch (see :func:`greedy`).
        lookahead: the model's multi-token step and cache rewind; needed for
            ``prompt_lookup_num_tokens``.
        options: any :class:`GenerationConfig` field, e.g. ``max_new_tokens=32, num_beams=4``.

    Returns:
        The sequences, and the scores when asked for.

    Raises:
        ValueError: invalid settings or inputs, a streamer with beam search, or prompt lookup
            decoding without a ``lookahead`` or with anything but greedy search of one row.
    """
    config, processors = prepare(config, start_ids, encoder_input_ids=encoder_input_ids, **options)
    if config.num_beams > 1 and streamer is not None:
        raise ValueError("A streamer cannot follow beam search; set `num_beams=1` to stream.")
    if config.prompt_lookup_num_tokens is not None:
        _check_lookup(config, start_ids, lookahead)
    times = max(config.num_beams, config.num_return_sequences)
    input_ids, cache = expand_rows(reorder, cache, start_ids, times)
    if streamer is not None and hasattr(streamer, "put"):
        streamer = _streamer_calls(streamer, input_ids)
    if config.prompt_lookup_num_tokens is not None:
        assert lookahead is not None  # _check_lookup refused a decode without one
        loop = _lookup_loop(step, lookahead, cache, input_ids, config, processors)
        return _drain(loop, streamer)
    if config.num_beams > 1:
        return beam_search(step, reorder, cache, input_ids, config, processors, generator=generator)
    if config.do_sample:
        return sample(
            step, cache, input_ids, config, processors, generator=generator, streamer=streamer
        )
    if (
        config.output_scores
        or config.output_logits
        or config.encoder_no_repeat_ngram_size
        or config.encoder_repetition_penalty != 1.0
    ):
        select = None  # every row's scores are returned / a processor reads rows by position
    return greedy(step, cache, input_ids, config, processors, streamer=streamer, select=select)


def stream(
    step: Step,
    reorder: Reorder,
    cache: Any,
    start_ids: Tensor,
    config: GenerationConfig | None = None,
    *,
    encoder_input_ids: Tensor | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Generator[Tensor, None, GenerateOutput]:
    """:func:`generate` for greedy search and sampling, as an iterator over the new tokens.

    Args:
        step, reorder, cache, start_ids, config, encoder_input_ids, generator, options: as for
            :func:`generate`.

    Yields:
        The new token of every row, ``(N,)``, after each step (pad for finished rows).

    Returns:
        The :class:`GenerateOutput`, as the generator's return value
        (``output = yield from stream(...)``).

    Raises:
        ValueError: as :func:`generate`, and for ``num_beams`` > 1 (on the first ``next``).
    """
    config, processors = prepare(config, start_ids, encoder_input_ids=encoder_input_ids, **options)
    if config.num_beams > 1:
        raise ValueError("Beam search cannot be streamed; set `num_beams=1` to stream.")
    if config.prompt_lookup_num_tokens is not None:
        _check_lookup(config, start_ids, None)  # stream has no lookahead: refused, not ignored
    input_ids, cache = expand_rows(reorder, cache, start_ids, config.num_return_sequences)
    loop = _token_loop(step, cache, input_ids, config, processors, config.do_sample, generator)
    return (yield from loop)


# --------------------------------------------------------------------------- greedy and sampling


def greedy(
    step: Step,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor] | None = None,
    *,
    streamer: Streamer | None = None,
    select: Reorder | None = None,
) -> GenerateOutput:
    """Greedy search: take the best-scoring token at each step.

    Args:
        step: the model's step callable.
        cache: the cache, one row per row of ``input_ids``.
        input_ids: ``(N, P)`` prompts.
        config: the settings (as :func:`prepare` returns them, or raw).
        processors: logits processors; default: built from ``config``. With ``select`` they
            must treat rows independently (they see only the unfinished ones).
        streamer: see :func:`generate`.
        select: the cache row selector; given, rows that reached eos leave the batch, so later
            steps compute only the unfinished rows (the output is the same).

    Returns:
        Sequences ``(N, L)``; a row ends at its first eos, then holds the pad id.
    """
    config = _resolved(config, input_ids.shape[1])
    processors = _default_processors(processors, config, input_ids)
    loop = _token_loop(step, cache, input_ids, config, processors, False, None, select)
    return _drain(loop, streamer)


def sample(
    step: Step,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor] | None = None,
    *,
    generator: torch.Generator | None = None,
    streamer: Streamer | None = None,
) -> GenerateOutput:
    """Multinomial sampling from the processed scores at each step.

    Args:
        step: the model's step callable.
        cache: the cache, one row per row of ``input_ids``.
        input_ids: ``(N, P)`` prompts.
        config: the settings (as :func:`prepare` returns them, or raw).
        processors: logits processors, warpers included; default: built from ``config``.
        generator: the random source; default: torch's global one (what transformers uses).
        streamer: see :func:`generate`.

    Returns:
        Sequences ``(N, L)``; a row ends at its first eos, then holds the pad id.
    """
    config = _resolved(config, input_ids.shape[1])
    processors = _default_processors(processors, config, input_ids)
    loop = _token_loop(step, cache, input_ids, config, processors, True, generator)
    return _drain(loop, streamer)


def greedy_lookup(
    step: Step,
    lookahead: lookup.Lookahead,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor] | None = None,
    *,
    streamer: Streamer | None = None,
) -> GenerateOutput:
    """Greedy search of one row with prompt lookup decoding (:mod:`warmstart.torch.generation.lookup`).

    Each decoder pass feeds the newest token and up to ``prompt_lookup_num_tokens`` guesses: the
    tokens that followed the last ``max_matching_ngram_size``-gram (default 2, down to 1) of the
    output where it occurs earlier in ``lookahead.source`` or the output. Guesses are kept while
    greedy search would have chosen them, each scored with the processors over the tokens before
    it, so the result is :func:`greedy`'s (up to float rounding, as a pass over several positions
    sums in another order than one-token steps). A pass without guesses is a plain ``step``.

    Args:
        step: the model's step callable.
        lookahead: the model's multi-token step, cache rewind and source ids.
        cache: the cache of the one row.
        input_ids: ``(1, P)`` prompt.
        config: the settings, with ``prompt_lookup_num_tokens`` set.
        processors: logits processors; default: built from ``config``.
        streamer: see :func:`generate`; called once per token.

    Returns:
        Sequences ``(1, L)``, ending at the first eos; ``scores`` / ``logits`` one per token.
    """
    config = _resolved(config, input_ids.shape[1])
    _check_lookup(config, input_ids, lookahead)
    processors = _default_processors(processors, config, input_ids)
    return _drain(_lookup_loop(step, lookahead, cache, input_ids, config, processors), streamer)


def _check_lookup(
    config: GenerationConfig, input_ids: Tensor, lookahead: lookup.Lookahead | None
) -> None:
    what = None
    if config.num_beams > 1:
        what = "beam search"
    elif config.do_sample:
        what = "sampling"
    elif input_ids.shape[0] != 1:
        what = f"{input_ids.shape[0]} rows at once"
    if what is not None:
        raise ValueError(
            f"Prompt lookup decoding (`prompt_lookup_num_tokens`) is greedy search of one row; it "
            f"cannot run {what}. Unset `prompt_lookup_num_tokens`, or generate one input at a "
            "time with greedy search."
        )
    if lookahead is None:
        raise ValueError(
            "`prompt_lookup_num_tokens` needs the model's multi-token step: pass `lookahead` "
            "(EncoderDecoderModel.generate does)."
        )


def _lookup_loop(
    step: Step,
    lookahead: lookup.Lookahead,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor],
) -> Generator[Tensor, None, GenerateOutput]:
    """One token per yield, several per decoder pass when guesses hold; returns the output."""
    count, ngram = lookup.settings(config)
    if lookahead.width is not None:
        count = min(count, lookahead.width - 1)
    eos = set(config.eos_ids() or ())
    all_scores: list[Tensor] | None = [] if config.output_scores else None
    all_logits: list[Tensor] | None = [] if config.output_logits else None
    deadline = _deadline(config)
    logits, cache = step(input_ids, cache)
    rows = logits[:, None]  # (1, t, V): the logits after each position fed
    guessed = input_ids.new_empty(0)  # (t - 1,) the guesses fed after the newest token
    ids = input_ids
    while True:
        for j in range(rows.shape[1]):
            raw = rows[:, j].float()  # (1, V)
            if all_logits is not None:
                all_logits.append(raw.clone())  # processors may write into their input
            scores = apply_processors(processors, ids, raw)
            if all_scores is not None:
                all_scores.append(scores)
            token = torch.argmax(scores, dim=-1)  # (1,)
            ids = torch.cat([ids, token[:, None]], dim=-1)
            yield token
            chosen = int(token)
            done = chosen in eos or ids.shape[1] >= config.max_length
            if done or j == guessed.shape[0] or chosen != int(guessed[j]):
                break
        if done or _past(deadline):
            return GenerateOutput(ids, scores=_tuple(all_scores), logits=_tuple(all_logits))
        if guessed.shape[0] > j:  # the guesses after the first one refused are not the text
            cache = lookahead.rewind(cache, guessed.shape[0] - j)
        room = config.max_length - ids.shape[1] - 1  # the pass adds a token after the guesses
        text = lookup.with_source(lookahead.source, ids)
        guessed = lookup.guess(text, ngram, min(count, room))
        if guessed.shape[0]:
            rows, cache = lookahead.step_all(torch.cat([token, guessed])[None], cache)
        else:
            logits, cache = step(token[:, None], cache)
            rows = logits[:, None]


def _default_processors(
    processors: Sequence[Processor] | None, config: GenerationConfig, input_ids: Tensor
) -> Sequence[Processor]:
    if processors is not None:
        return processors
    return build_processors(config, prompt_length=input_ids.shape[1])


def _streamer_calls(streamer: Any, input_ids: Tensor) -> Streamer:
    """A :data:`Streamer` over an object with transformers' ``put``/``end`` methods, which first
    gets the prompt (on the CPU, as transformers hands it)."""
    streamer.put(input_ids.cpu())

    def call(tokens: Tensor | None) -> None:
        if tokens is None:
            streamer.end()
        else:
            streamer.put(tokens.cpu())

    return call


def _drain(
    loop: Generator[Tensor, None, GenerateOutput], streamer: Streamer | None
) -> GenerateOutput:
    """Run a token loop to its end, handing each step's tokens to ``streamer``."""
    while True:
        try:
            tokens = next(loop)
        except StopIteration as end:
            if streamer is not None:
                streamer(None)
            return end.value
        if streamer is not None:
            streamer(tokens)


def _token_loop(
    step: Step,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor],
    sampling: bool,
    generator: torch.Generator | None,
    select: Reorder | None = None,
) -> Generator[Tensor, None, GenerateOutput]:
    """One token per row per step; yields the new tokens ``(N,)``, returns the output.

    With ``select`` (greedy only), rows that finished are dropped from the cache: ``active``
    then holds the indices of the rows it still has.
    """
    eos = _eos_tensor(config, input_ids.device)
    pad = pad_id(config)
    compact = select is not None and eos is not None and not sampling
    unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    active: Tensor | None = None  # (n,) rows the cache holds, None while it holds all
    all_scores: list[Tensor] | None = [] if config.output_scores else None
    all_logits: list[Tensor] | None = [] if config.output_logits else None
    deadline = _deadline(config)
    new_tokens = input_ids
    while True:
        logits, cache = step(new_tokens, cache)
        logits = logits.float()  # (n, V)
        rows = input_ids if active is None else input_ids[active]
        scores = apply_processors(processors, rows, logits)  # (n, V)
        if all_scores is not None:
            all_scores.append(scores)
        if all_logits is not None:
            all_logits.append(logits.clone())  # a compiled step may reuse its output buffer
        if sampling:
            probs = torch.softmax(scores, dim=-1)
            tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
        else:
            tokens = torch.argmax(scores, dim=-1)  # (n,)
        if active is not None:
            tokens = torch.full_like(unfinished, pad, dtype=tokens.dtype).index_copy_(
                0, active, tokens
            )  # (N,)
        if eos is not None:
            tokens = torch.where(unfinished, tokens, pad)
            unfinished &= ~torch.isin(tokens, eos)
        input_ids = torch.cat([input_ids, tokens[:, None]], dim=-1)
        yield tokens
        if input_ids.shape[1] >= config.max_length or not unfinished.any() or _past(deadline):
            break
        if compact:
            cache, active = _drop_finished(select, cache, active, unfinished)
        new_tokens = (tokens if active is None else tokens[active])[:, None]
    return GenerateOutput(sequences=input_ids, scores=_tuple(all_scores), logits=_tuple(all_logits))


def _tuple(steps: list[Tensor] | None) -> tuple[Tensor, ...] | None:
    return None if steps is None else tuple(steps)


def _deadline(config: GenerationConfig) -> float | None:
    """When ``max_time`` runs out, on the :func:`time.monotonic` clock (None: never)."""
    return None if config.max_time is None else monotonic() + config.max_time


def _past(deadline: float | None) -> bool:
    """Whether ``max_time`` ran out (checked after each step, as transformers' MaxTimeCriteria)."""
    return deadline is not None and monotonic() > deadline


def _drop_finished(
    select: Reorder, cache: Any, active: Tensor | None, unfinished: Tensor
) -> tuple[Any, Tensor | None]:
    """Drop the rows that finished this step from the cache; return it and the rows it holds."""
    held = unfinished if active is None else unfinished[active]  # (n,) still running
    if bool(held.all()):
        return cache, active
    local = held.nonzero().squeeze(1)  # (n',) positions in the cache
    return select(cache, local), (local if active is None else active[local])


# ---------------------------------------------------------------------------------- beam search


def beam_search(
    step: Step,
    reorder: Reorder,
    cache: Any,
    input_ids: Tensor,
    config: GenerationConfig,
    processors: Sequence[Processor] | None = None,
    *,
    generator: torch.Generator | None = None,
) -> GenerateOutput:
    """Beam search (with ``do_sample``: beam sampling), exactly as transformers 5.24 runs it: the
    core's (:mod:`warmstart.generation.eager_beam`, which the numpy runtime shares) over torch.

    Args:
        step: the model's step callable.
        reorder: the model's cache row selector, called after every step to follow the beams.
        cache: the cache, already expanded to ``B * num_beams`` rows.
        input_ids: ``(B * num_beams, P)`` prompts, each input's row repeated ``num_beams`` times.
        config: the settings (as :func:`prepare` returns them, or raw).
        processors: logits processors (applied to log-probabilities); default: built from config.
        generator: random source for beam sampling.

    Returns:
        The best ``num_return_sequences`` hypotheses of each input, best first, with
        ``beam_indices`` and (with ``output_scores``, as transformers) their scores in
        ``sequences_scores``. Shorter ones are padded with ``pad_token_id``, except that a pad
        id of 0 (or none) pads with the first eos id, as in transformers.
    """
    config = _resolved(config, input_ids.shape[1])
    processors = _default_processors(processors, config, input_ids)
    all_scores: list[Tensor] | None = [] if config.output_scores else None
    all_logits: list[Tensor] | None = [] if config.output_logits else None

    def scored(logits: Tensor, running: Tensor) -> Tensor:  # (N, V) processed log-probs
        logits = logits.float()
        if all_logits is not None:
            all_logits.append(logits.clone())
        scores = apply_processors(processors, running, torch.log_softmax(logits, dim=-1))
        if all_scores is not None:
            all_scores.append(scores.clone())
        return scores

    expired = partial(_past, _deadline(config))
    state = eager_beam.search(
        TORCH, step, reorder, cache, input_ids, config, scored, rng=generator, expired=expired
    )
    sequences, scores, beam_indices = eager_beam.results(state, config.num_return_sequences)
    return GenerateOutput(
        sequences=sequences,
        # transformers returns the final scores only with output_scores
        sequences_scores=scores if config.output_scores else None,
        scores=_tuple(all_scores),
        logits=_tuple(all_logits),
        beam_indices=beam_indices,
    )
