"""The plan's logits processors over numpy arrays, for rooms that run without a framework
(:mod:`warmstart.onnx`). Each gives the result of the PyTorch side's function of the same name
(:mod:`warmstart.torch.generation.processors`, which follows transformers' processors):
``control(input_ids (N, T), scores (N, V), **settings) -> scores (N, V)``, the input unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from .plan import ENCODER_PROCESSORS, ProcessorSpec

Processor = Callable[[np.ndarray, np.ndarray], np.ndarray]
NEG_INF = -np.inf


def _ids(token_ids: Any) -> np.ndarray:
    return np.asarray(token_ids, dtype=np.int64).reshape(-1)


def _vocab_mask(scores: np.ndarray, token_ids: Any) -> np.ndarray:
    """(V,) bool: which vocabulary entries are in ``token_ids``."""
    return np.isin(np.arange(scores.shape[-1]), _ids(token_ids))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (float32 in, float32 out)."""
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis."""
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _rows_seen(input_ids: np.ndarray, vocab: int) -> np.ndarray:
    """(N, V) bool: tokens present in each row."""
    seen = np.zeros((input_ids.shape[0], vocab + 1), dtype=bool)
    np.put_along_axis(seen, np.minimum(input_ids, vocab), True, axis=1)
    return seen[:, :vocab]


def repetition_penalty(input_ids, scores, penalty: float):
    penalized = np.where(scores < 0, scores * penalty, scores / penalty)
    return np.where(_rows_seen(input_ids, scores.shape[-1]), penalized, scores).astype(scores.dtype)


def encoder_repetition_penalty(input_ids, scores, penalty: float, encoder_input_ids):
    enc = encoder_input_ids
    if scores.shape[0] > enc.shape[0]:
        enc = np.repeat(enc, scores.shape[0] // enc.shape[0], axis=0)
    inverse = 1 / penalty
    picked = np.take_along_axis(scores, enc, axis=1)
    picked = np.where(picked < 0, picked * inverse, picked / inverse).astype(scores.dtype)
    out = scores.copy()
    np.put_along_axis(out, enc, picked, axis=1)
    return out


def sequence_bias(input_ids, scores, biases):
    pairs = biases.items() if isinstance(biases, Mapping) else biases
    by_sequence = {tuple(seq): float(bias) for seq, bias in pairs}
    vocab = scores.shape[-1]
    too_big = [t for seq in by_sequence for t in seq if t >= vocab]
    if too_big:
        raise ValueError(
            f"`sequence_bias` holds token ids {too_big}, outside the vocabulary of {vocab}."
        )
    bias = np.zeros_like(scores)
    for seq, value in by_sequence.items():
        if len(seq) == 1:
            bias[:, seq[0]] = value
    longer = [(seq, value) for seq, value in by_sequence.items() if len(seq) > 1]
    for n in dict.fromkeys(len(seq) - 1 for seq, _ in longer):
        if n > input_ids.shape[-1]:
            continue
        for seq, value in longer:
            if len(seq) - 1 == n:
                matches = (input_ids[:, -n:] == np.asarray(seq[:-1])).all(-1)
                bias[matches, seq[-1]] += value
    return scores + bias


def _ban_matching_windows(windows, suffix, scores):
    """windows (N, W, n), suffix (N, n-1): ban each matching window's last token."""
    vocab = scores.shape[-1]
    matches = (windows[..., :-1] == suffix[:, None, :]).all(-1)  # (N, W)
    targets = np.where(matches, np.minimum(windows[..., -1], vocab), vocab)
    banned = np.zeros((scores.shape[0], vocab + 1), dtype=bool)
    np.put_along_axis(banned, targets, True, axis=1)
    return np.where(banned[:, :vocab], NEG_INF, scores).astype(scores.dtype)


def _windows(x: np.ndarray, n: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, n, axis=1)  # (N, W, n)


def no_repeat_ngram(input_ids, scores, ngram_size: int):
    length = input_ids.shape[-1]
    if length < ngram_size:
        return scores
    suffix = input_ids[:, length - ngram_size + 1 :]
    return _ban_matching_windows(_windows(input_ids, ngram_size), suffix, scores)


def encoder_no_repeat_ngram(input_ids, scores, ngram_size: int, encoder_input_ids):
    length = input_ids.shape[-1]
    rows, enc_rows = scores.shape[0], encoder_input_ids.shape[0]
    if length < ngram_size - 1 or encoder_input_ids.shape[-1] < ngram_size:
        return scores
    owner = np.arange(rows) // (rows // enc_rows)
    windows = _windows(encoder_input_ids, ngram_size)[owner]
    suffix = input_ids[:, length - ngram_size + 1 :]
    return _ban_matching_windows(windows, suffix, scores)


def bad_words(input_ids, scores, bad_words_ids, eos_token_id=None):
    vocab = scores.shape[-1]
    too_big = [t for seq in bad_words_ids for t in seq if t >= vocab]
    if too_big:
        raise ValueError(
            f"`bad_words_ids` holds token ids {too_big}, outside the vocabulary of {vocab}."
        )
    eos = [] if eos_token_id is None else _ids(eos_token_id).tolist()
    bias = np.zeros_like(scores)
    for seq in bad_words_ids:
        seq = list(seq)
        if len(seq) == 1 and seq[0] in eos:
            continue
        prefix = seq[:-1]
        if len(prefix) > input_ids.shape[-1]:
            continue
        if not prefix:
            bias[:, seq[-1]] = NEG_INF
        else:
            bias[(input_ids[:, -len(prefix) :] == np.asarray(prefix)).all(-1), seq[-1]] = NEG_INF
    return scores + bias


def min_length(input_ids, scores, length: int, eos_token_id):
    if input_ids.shape[-1] < length:
        return np.where(_vocab_mask(scores, eos_token_id), NEG_INF, scores).astype(scores.dtype)
    return scores


def min_new_tokens(input_ids, scores, prompt_length: int, count: int, eos_token_id):
    return min_length(input_ids, scores, prompt_length + count, eos_token_id)


def forced_bos(input_ids, scores, token_id: int):
    if input_ids.shape[-1] != 1:
        return scores
    forced = np.full_like(scores, NEG_INF)
    forced[:, token_id] = 0
    return forced


def forced_eos(input_ids, scores, max_length: int, eos_token_id):
    if input_ids.shape[-1] != max_length - 1:
        return scores
    forced = np.full_like(scores, NEG_INF)
    forced[:, _ids(eos_token_id)] = 0
    return forced


def suppress_tokens(input_ids, scores, token_ids):
    return np.where(_vocab_mask(scores, list(token_ids)), NEG_INF, scores).astype(scores.dtype)


def begin_suppress_tokens(input_ids, scores, token_ids, begin_index: int):
    if input_ids.shape[-1] != begin_index:
        return scores
    return suppress_tokens(input_ids, scores, token_ids)


def exponential_decay_length_penalty(
    input_ids, scores, start: int, factor: float, prompt_length: int, eos_token_id
):
    past = input_ids.shape[-1] - (start + prompt_length)
    if past <= 0:
        return scores
    eos = _ids(eos_token_id)
    eos_scores = scores[:, eos]
    boost = np.abs(eos_scores) * np.float32(pow(factor, past) - 1)
    boost = np.where(np.isfinite(eos_scores), boost, 0.0).astype(scores.dtype)
    out = scores.copy()
    out[:, eos] += boost
    return out


def remove_invalid_values(input_ids, scores):
    info = np.finfo(scores.dtype)
    out = np.where(np.isnan(scores), 0.0, scores)
    out = np.where(scores == np.inf, info.max, out)
    return np.where(scores == -np.inf, info.min, out).astype(scores.dtype)


def renormalize(input_ids, scores):
    return log_softmax(scores)


def temperature(input_ids, scores, value: float):
    return (scores / np.float32(value)).astype(scores.dtype)


def _kth_best(scores: np.ndarray, k: int) -> np.ndarray:
    """(N, 1): the k-th largest score of each row."""
    return -np.partition(-scores, k - 1, axis=-1)[:, k - 1 : k]


def top_k(input_ids, scores, k: int, min_tokens_to_keep: int = 1):
    k = min(max(k, min_tokens_to_keep), scores.shape[-1])
    return np.where(scores < _kth_best(scores, k), NEG_INF, scores).astype(scores.dtype)


def _unsort(drop_sorted: np.ndarray, order: np.ndarray) -> np.ndarray:
    drop = np.empty_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=1)
    return drop


def top_p(input_ids, scores, p: float, min_tokens_to_keep: int = 1):
    order = np.argsort(scores, axis=-1, kind="stable")  # ascending
    ascending = np.take_along_axis(scores, order, axis=1)
    drop_sorted = softmax(ascending).cumsum(-1) <= (1 - p)
    drop_sorted[..., -min_tokens_to_keep:] = False
    return np.where(_unsort(drop_sorted, order), NEG_INF, scores).astype(scores.dtype)


def min_p(input_ids, scores, p: float, min_tokens_to_keep: int = 1):
    probs = softmax(scores)
    drop = probs < p * probs.max(-1, keepdims=True)
    keep = np.argsort(-probs, axis=-1, kind="stable")[:, : min(min_tokens_to_keep, probs.shape[-1])]
    np.put_along_axis(drop, keep, False, axis=1)
    return np.where(drop, NEG_INF, scores).astype(scores.dtype)


def top_h(input_ids, scores, h: float):
    n = min(100, scores.shape[-1])
    order = np.argsort(-scores, axis=-1, kind="stable")[:, :n]
    best = np.take_along_axis(scores, order, axis=1)
    probs = softmax(best)
    terms = -probs * np.log(probs)
    keep_sorted = terms.cumsum(-1) <= terms.sum(-1, keepdims=True) * h
    keep_sorted[:, 0] = True
    keep = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, scores, NEG_INF).astype(scores.dtype)


def typical_p(input_ids, scores, mass: float, min_tokens_to_keep: int = 1):
    log_probs = log_softmax(scores)
    entropy = -np.nansum(log_probs * np.exp(log_probs), -1, keepdims=True)
    distance_all = np.abs(-log_probs - entropy)
    order = np.argsort(distance_all, axis=-1, kind="stable")
    distance = np.take_along_axis(distance_all, order, axis=1)
    cumulative = softmax(np.take_along_axis(scores, order, axis=1)).cumsum(-1)
    last = np.minimum((cumulative < mass).sum(1), distance.shape[-1] - 1)
    drop_sorted = distance > np.take_along_axis(distance, last[:, None], axis=1)
    drop_sorted[..., :min_tokens_to_keep] = False
    return np.where(_unsort(drop_sorted, order), NEG_INF, scores).astype(scores.dtype)


def _drop_below(scores, below, min_tokens_to_keep: int):
    kth = _kth_best(scores, min(min_tokens_to_keep, scores.shape[-1]))
    return np.where(below & (scores < kth), NEG_INF, scores).astype(scores.dtype)


def epsilon_cutoff(input_ids, scores, epsilon: float, min_tokens_to_keep: int = 1):
    return _drop_below(scores, softmax(scores) < epsilon, min_tokens_to_keep)


def eta_cutoff(input_ids, scores, epsilon: float, min_tokens_to_keep: int = 1):
    probs = softmax(scores)
    entropy = -np.nansum(probs * log_softmax(scores), -1)
    eps = np.float32(epsilon)
    eta = np.minimum(eps, np.sqrt(eps) * np.exp(-entropy))[:, None]
    return _drop_below(scores, probs < eta, min_tokens_to_keep)


FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    f.__name__: f
    for f in (
        sequence_bias,
        encoder_repetition_penalty,
        repetition_penalty,
        no_repeat_ngram,
        encoder_no_repeat_ngram,
        bad_words,
        min_length,
        min_new_tokens,
        forced_bos,
        forced_eos,
        remove_invalid_values,
        exponential_decay_length_penalty,
        suppress_tokens,
        begin_suppress_tokens,
        temperature,
        top_h,
        top_k,
        top_p,
        min_p,
        typical_p,
        epsilon_cutoff,
        eta_cutoff,
        renormalize,
    )
}
"""Processor name (as the plan lists it) -> its numpy function."""


def build(specs: Sequence[ProcessorSpec], encoder_input_ids: np.ndarray | None) -> list[Processor]:
    """Bind the plan's processors to this module's functions.

    Raises:
        ValueError: an encoder control without ``encoder_input_ids``.
    """
    out: list[Processor] = []
    for name, settings in specs:
        if name in ENCODER_PROCESSORS:
            if encoder_input_ids is None:
                raise ValueError(f"`{name}` needs the encoder input ids; pass input_ids.")
            settings = {**settings, "encoder_input_ids": encoder_input_ids}
        out.append(partial(FUNCTIONS[name], **settings) if settings else FUNCTIONS[name])
    return out


def apply(processors: Sequence[Processor], input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Run the processors in turn: scores (N, V)."""
    for process in processors:
        scores = process(input_ids, scores)
    return scores
