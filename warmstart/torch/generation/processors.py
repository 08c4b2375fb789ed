"""Logits controls over torch tensors: the core's (:mod:`warmstart.generation.eager_processors`,
which the numpy runtime shares) over :data:`TORCH`, PyTorch's array functions (beam search's too,
:mod:`warmstart.generation.eager_beam`).

Each control is ``control(input_ids, scores, *settings) -> scores``: ``input_ids`` ``(N, T)`` the
tokens so far of each row, ``scores`` ``(N, V)`` the next-token scores, left unchanged; it gives
exactly the result of the transformers logits processor of the same purpose. Tensors stay on their
device. :func:`build_processors` turns a :class:`GenerationConfig` into the ordered list of controls
that transformers' ``generate`` applies, with their settings bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ...generation import eager_processors as core
from ...generation.config import GenerationConfig
from ...generation.eager_processors import EagerOps
from ...generation.plan import ProcessorSpec, processor_specs

Processor = Callable[[Tensor, Tensor], Tensor]
"""A control with its settings bound: ``(input_ids (N, T), scores (N, V)) -> scores (N, V)``."""


def _ids(token_ids, like: Tensor | None = None) -> Tensor:
    """Token id(s) as a 1-D LongTensor on ``like``'s device (the CPU without)."""
    device = torch.device("cpu") if like is None else like.device
    return torch.as_tensor(token_ids, dtype=torch.long, device=device).reshape(-1)


def _add_columns(x: Tensor, columns: Tensor, values: Tensor) -> Tensor:
    """``x`` plus ``values`` in ``columns``, zeros elsewhere, as transformers adds them (a -0.0
    elsewhere becomes 0.0; the numpy side leaves the other columns as they are)."""
    penalties = torch.zeros_like(x)
    penalties[:, columns] = values
    return x + penalties


def _top_over_beams(total: Tensor, count: int) -> Tensor:
    """The flat positions in (B, K*V) of the best ``count`` scores of ``total`` (B, K, V), best
    first. Each beam's best come first, then the best of those: the global best are among them,
    and two small top-k's take about 60% of one over K*V values."""
    batch, beams, vocab = total.shape
    values, index = torch.topk(total, min(count, vocab))  # (B, K, c)
    index = index + torch.arange(beams, device=total.device)[:, None] * vocab  # flat positions
    best = torch.topk(values.reshape(batch, -1), count)[1]  # (B, C)
    return index.reshape(batch, -1).gather(1, best)


def _draw(total: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """``count`` positions per row of ``total`` (B, M) drawn from its softmax, by score."""
    picks = torch.multinomial(torch.softmax(total, dim=-1), count, generator=generator)
    return picks.gather(-1, total.gather(1, picks).sort(dim=-1, descending=True)[1])


def _categorical(logits: Tensor) -> tuple[Tensor, Tensor]:
    dist = torch.distributions.Categorical(logits=logits)
    return dist.probs, dist.entropy()


TORCH = EagerOps(
    where=torch.where,
    isin=torch.isin,
    exp=torch.exp,
    log=torch.log,
    sqrt=torch.sqrt,
    isfinite=torch.isfinite,
    finfo=torch.finfo,
    zeros_like=torch.zeros_like,
    full_like=torch.full_like,
    copy=torch.clone,
    softmax=lambda x: x.softmax(dim=-1),
    log_softmax=lambda x: x.log_softmax(dim=-1),
    nansum=lambda x: x.nansum(-1, keepdim=True),
    amax=lambda x: x.amax(dim=-1, keepdim=True),
    clip=lambda x, high: x.clamp(max=high),
    arange=lambda n, like: torch.arange(n, device=like.device),
    ids=_ids,
    on=lambda x, like: x.to(like.device),
    falses=lambda shape, like: torch.zeros(shape, dtype=torch.bool, device=like.device),
    put=lambda x, index, values: x.scatter_(1, index, values),
    gather=lambda x, index: torch.take_along_dim(x, index, dim=1),
    windows=lambda x, n: x.unfold(1, n, 1),
    repeat_rows=lambda x, r: x.repeat_interleave(r, dim=0),
    sort=lambda x: torch.sort(x, descending=False),
    top=lambda x, k: torch.topk(x, k, dim=-1),
    kth_best=lambda x, k: torch.topk(x, k).values[..., -1:],
    scalar=lambda value, like: torch.tensor(value, device=like.device),
    number=lambda value: value,
    add_columns=_add_columns,
    entropy=lambda logits, probs: torch.distributions.Categorical(logits=logits).entropy(),
    categorical=_categorical,
    needs_encoder_ids=(
        "`{option}` needs the encoder input ids; pass `encoder_input_ids`, or set `{option}={off}`."
    ),
    full=lambda shape, value, dtype, like: torch.full(
        shape, value, dtype=getattr(torch, dtype), device=like.device
    ),
    float32=lambda x: x.to(torch.float32),
    cat=lambda tensors: torch.cat(tensors, dim=1),
    amin=lambda x: x.amin(-1, keepdim=True),
    best=lambda x, k: torch.topk(x, k)[1],
    beam_top=_top_over_beams,
    draw=_draw,
)
"""PyTorch's array functions for the core's controls."""

FUNCTIONS: dict[str, Callable[..., Tensor]] = core.bound(TORCH)
"""Processor name (as the plan lists it) -> the control over torch tensors."""

sequence_bias = FUNCTIONS["sequence_bias"]
encoder_repetition_penalty = FUNCTIONS["encoder_repetition_penalty"]
repetition_penalty = FUNCTIONS["repetition_penalty"]
no_repeat_ngram = FUNCTIONS["no_repeat_ngram"]
encoder_no_repeat_ngram = FUNCTIONS["encoder_no_repeat_ngram"]
bad_words = FUNCTIONS["bad_words"]
min_length = FUNCTIONS["min_length"]
min_new_tokens = FUNCTIONS["min_new_tokens"]
forced_bos = FUNCTIONS["forced_bos"]
forced_eos = FUNCTIONS["forced_eos"]
remove_invalid_values = FUNCTIONS["remove_invalid_values"]
exponential_decay_length_penalty = FUNCTIONS["exponential_decay_length_penalty"]
suppress_tokens = FUNCTIONS["suppress_tokens"]
begin_suppress_tokens = FUNCTIONS["begin_suppress_tokens"]
temperature = FUNCTIONS["temperature"]
top_h = FUNCTIONS["top_h"]
top_k = FUNCTIONS["top_k"]
top_p = FUNCTIONS["top_p"]
min_p = FUNCTIONS["min_p"]
typical_p = FUNCTIONS["typical_p"]
epsilon_cutoff = FUNCTIONS["epsilon_cutoff"]
eta_cutoff = FUNCTIONS["eta_cutoff"]
renormalize = FUNCTIONS["renormalize"]

apply_processors = core.apply


def build_processors(
    config: GenerationConfig,
    *,
    prompt_length: int,
    encoder_input_ids: Tensor | None = None,
    specs: Sequence[ProcessorSpec] | None = None,
) -> list[Processor]:
    """The controls ``config`` asks for, in the order transformers' ``generate`` applies them
    (:func:`warmstart.generation.plan.processor_specs` lists them), over torch tensors.

    Args:
        config: the generation settings.
        prompt_length: tokens in each row before generation starts (1: the start token).
        encoder_input_ids: ``(B, S)`` encoder input ids, needed for
            ``encoder_no_repeat_ngram_size`` > 0 and ``encoder_repetition_penalty`` != 1.
        specs: the processors by name, as a :class:`~warmstart.generation.plan.Plan` holds them
            (default: listed from ``config``).

    Returns:
        Processors to apply in turn with :func:`apply_processors`.

    Raises:
        ValueError: an encoder control without ``encoder_input_ids``, or
            ``exponential_decay_length_penalty`` without an eos.
    """
    if specs is None:
        specs = processor_specs(config, prompt_length)
    return core.build(TORCH, specs, encoder_input_ids)
