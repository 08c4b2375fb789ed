"""Each logits control on hand-made tensors, and against transformers' processor on random ones."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import generation as hf

from warmstart.torch.generation import GenerationConfig, apply_processors, build_processors, prepare
from warmstart.torch.generation import processors as P

INF = math.inf


def exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def ids(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


# ------------------------------------------------------------------------------ hand-made cases


def test_repetition_penalty_by_hand():
    scores = t([[1.0, -2.0, 4.0, -1.0], [1.0, -2.0, 4.0, -1.0]])
    out = P.repetition_penalty(ids([[0, 2, 2], [1, 1, 7]]), scores, penalty=2.0)
    # row 0: tokens 0 and 2 seen (once each); row 1: token 1 seen, 7 is outside the vocabulary
    exact(out, t([[0.5, -2.0, 2.0, -1.0], [1.0, -4.0, 4.0, -1.0]]))
    exact(scores, t([[1.0, -2.0, 4.0, -1.0], [1.0, -2.0, 4.0, -1.0]]))  # input untouched


def test_no_repeat_ngram_by_hand():
    scores = torch.zeros(2, 6)
    out = P.no_repeat_ngram(ids([[5, 1, 2, 1], [1, 2, 3, 4]]), scores, ngram_size=2)
    # row 0 ends with 1 and "1 2" occurred: ban 2; row 1 ends with 4, never seen before
    exact(out, t([[0, 0, -INF, 0, 0, 0], [0] * 6]))
    out = P.no_repeat_ngram(ids([[5, 1, 5, 1]]), torch.zeros(1, 6), ngram_size=3)
    exact(out, t([[0, 0, 0, 0, 0, -INF]]))  # "5 1 5" occurred and the row ends "5 1"
    out = P.no_repeat_ngram(ids([[4, 0]]), torch.zeros(1, 6), ngram_size=1)
    exact(out, t([[-INF, 0, 0, 0, -INF, 0]]))  # n=1 bans every token seen
    exact(P.no_repeat_ngram(ids([[4, 0]]), torch.zeros(1, 6), ngram_size=3), torch.zeros(1, 6))


def test_encoder_no_repeat_ngram_by_hand():
    encoder = ids([[7, 1, 2, 1, 3], [4, 4, 4, 4, 4]])
    # two beams per input: rows 0-1 belong to encoder row 0, rows 2-3 to encoder row 1
    decoder = ids([[0, 1], [0, 2], [0, 4], [0, 1]])
    out = P.encoder_no_repeat_ngram(
        decoder, torch.zeros(4, 8), ngram_size=2, encoder_input_ids=encoder
    )
    expected = torch.zeros(4, 8)
    expected[0, [2, 3]] = -INF  # "1 2" and "1 3" are in encoder row 0
    expected[1, 1] = -INF  # "2 1"
    expected[2, 4] = -INF  # "4 4"
    exact(out, expected)
    expanded = encoder.repeat_interleave(2, dim=0)  # already one encoder row per decoder row
    exact(P.encoder_no_repeat_ngram(decoder, torch.zeros(4, 8), 2, expanded), expected)
    short = P.encoder_no_repeat_ngram(decoder[:, :1], torch.zeros(4, 8), 3, encoder)
    exact(short, torch.zeros(4, 8))


def test_bad_words_by_hand():
    scores = torch.zeros(2, 6)
    bad = [[4], [1, 2], [0, 1, 3], [5]]
    out = P.bad_words(ids([[0, 1], [5, 1]]), scores, bad, eos_token_id=4)
    # [4] is the eos: kept allowed; [5] always banned; "1 2" after a 1; "0 1 3" after "0 1"
    exact(out, t([[0, 0, -INF, -INF, 0, -INF], [0, 0, -INF, 0, 0, -INF]]))
    out = P.bad_words(ids([[1]]), torch.zeros(1, 6), [[0, 1, 3]])
    exact(out, torch.zeros(1, 6))  # prefix longer than the row
    with pytest.raises(ValueError, match="outside the vocabulary"):
        P.bad_words(ids([[1]]), torch.zeros(1, 6), [[9]])


def test_min_length_and_min_new_tokens_by_hand():
    scores = t([[1.0, 2.0, 3.0, 4.0]])
    exact(P.min_length(ids([[0, 1]]), scores, 3, eos_token_id=[1, 3]), t([[1, -INF, 3, -INF]]))
    exact(P.min_length(ids([[0, 1, 2]]), scores, 3, eos_token_id=1), scores)
    exact(P.min_new_tokens(ids([[0, 1]]), scores, 1, 2, eos_token_id=2), t([[1, 2, -INF, 4]]))
    exact(P.min_new_tokens(ids([[0, 1, 1]]), scores, 1, 2, eos_token_id=2), scores)


def test_forced_bos_and_eos_by_hand():
    scores = t([[1.0, 2.0, 3.0, 4.0]])
    exact(P.forced_bos(ids([[0]]), scores, token_id=2), t([[-INF, -INF, 0, -INF]]))
    exact(P.forced_bos(ids([[0, 2]]), scores, token_id=2), scores)
    exact(P.forced_eos(ids([[0, 1, 2]]), scores, 4, eos_token_id=[0, 3]), t([[0, -INF, -INF, 0]]))
    exact(P.forced_eos(ids([[0, 1]]), scores, 4, eos_token_id=3), scores)


def test_suppress_and_temperature_by_hand():
    scores = t([[1.0, 2.0, 3.0, 4.0]])
    exact(P.suppress_tokens(ids([[0]]), scores, [1, 3, 10]), t([[1, -INF, 3, -INF]]))
    exact(P.temperature(ids([[0]]), scores, 2.0), t([[0.5, 1.0, 1.5, 2.0]]))


def test_top_k_by_hand():
    scores = t([[1.0, 3.0, 2.0, 3.0, 0.0]])
    exact(P.top_k(ids([[0]]), scores, 2), t([[-INF, 3, -INF, 3, -INF]]))
    exact(P.top_k(ids([[0]]), scores, 1), t([[-INF, 3, -INF, 3, -INF]]))  # ties are kept
    exact(P.top_k(ids([[0]]), scores, 1, min_tokens_to_keep=3), t([[-INF, 3, 2, 3, -INF]]))
    exact(P.top_k(ids([[0]]), scores, 50), scores)


def test_top_p_by_hand():
    scores = torch.log(t([[0.05, 0.5, 0.15, 0.3]]))
    keep_two = scores.masked_fill(torch.tensor([[True, False, True, False]]), -INF)
    exact(P.top_p(ids([[0]]), scores, 0.7), keep_two)  # 0.5 + 0.3 > 0.7
    exact(
        P.top_p(ids([[0]]), scores, 0.7, min_tokens_to_keep=3),
        scores.masked_fill(torch.tensor([[True, False, False, False]]), -INF),
    )
    exact(P.top_p(ids([[0]]), scores, 1.0), scores)


def test_min_p_by_hand():
    scores = torch.log(t([[0.05, 0.5, 0.15, 0.3]]))
    dropped = scores.masked_fill(torch.tensor([[True, False, False, False]]), -INF)
    exact(P.min_p(ids([[0]]), scores, 0.2), dropped)  # threshold 0.2 * 0.5 = 0.1
    exact(P.min_p(ids([[0]]), scores, 0.2, min_tokens_to_keep=4), scores)


def test_sequence_bias_by_hand():
    biases = [[[2], 1.0], [[0, 3], -2.0], [[1, 0, 3], 0.5], [[2], 3.0]]  # [2] again: last wins
    out = P.sequence_bias(ids([[1, 0], [5, 5]]), torch.zeros(2, 4), biases)
    exact(out, t([[0, 0, 3.0, -1.5], [0, 0, 3.0, 0]]))
    exact(P.sequence_bias(ids([[0]]), torch.zeros(1, 4), {(0, 3): -2.0}), t([[0, 0, 0, -2.0]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        P.sequence_bias(ids([[0]]), torch.zeros(1, 4), [[[9], 1.0]])


def test_encoder_repetition_penalty_by_hand():
    scores = t([[2.0, -2.0, 1.0], [2.0, -2.0, 1.0]])
    out = P.encoder_repetition_penalty(ids([[0], [0]]), scores, 2.0, ids([[0, 1], [2, 2]]))
    exact(out, t([[4.0, -1.0, 1.0], [2.0, -2.0, 2.0]]))  # encoder tokens made more likely


def test_length_controls_by_hand():
    scores = t([[1.0, -2.0, 4.0]])
    row = ids([[0, 1, 1, 1]])  # 4 tokens: prompt of 1, 3 generated
    # start after 1 new token: 2 tokens past it, factor 2: eos gains |s| * (2**2 - 1)
    out = P.exponential_decay_length_penalty(row, scores, 1, 2.0, 1, 1)
    exact(out, t([[1.0, 4.0, 4.0]]))
    exact(P.exponential_decay_length_penalty(row, scores, 3, 2.0, 1, 1), scores)
    exact(P.begin_suppress_tokens(ids([[0]]), scores, [0, 2], 1), t([[-INF, -2.0, -INF]]))
    exact(P.begin_suppress_tokens(ids([[0, 1]]), scores, [0, 2], 1), scores)


def test_remove_invalid_values_and_renormalize_by_hand():
    big = torch.finfo(torch.float32).max
    out = P.remove_invalid_values(ids([[0]]), t([[math.nan, INF, -INF, 1.5]]))
    exact(out, t([[0.0, big, -big, 1.5]]))
    scores = t([[1.0, 1.0, 1.0, 1.0]]) * 7
    exact(P.renormalize(ids([[0]]), scores), torch.full((1, 4), -math.log(4.0)))


def test_cutoffs_by_hand():
    scores = torch.log(t([[0.05, 0.5, 0.15, 0.3]]))
    drop_first = scores.masked_fill(torch.tensor([[True, False, False, False]]), -INF)
    exact(P.epsilon_cutoff(ids([[0]]), scores, 0.1), drop_first)
    only_best = scores.masked_fill(torch.tensor([[True, False, True, True]]), -INF)
    exact(P.epsilon_cutoff(ids([[0]]), scores, 0.99), only_best)  # the best token always stays
    # eta: entropy ~1.14 nats, so the threshold is min(0.1, sqrt(0.1) * exp(-1.14)) ~ 0.1
    exact(P.eta_cutoff(ids([[0]]), scores, 0.1), drop_first)
    # typical: surprises -log p are 3.00, 0.69, 1.90, 1.20 around an entropy of 1.14, so by
    # closeness 0.3, 0.5, 0.15, 0.05; the mass reaches 0.4 with the second: keep 0.3 and 0.5
    kept = P.typical_p(ids([[0]]), scores, 0.4)
    exact(kept, scores.masked_fill(torch.tensor([[True, False, True, False]]), -INF))
    # top-h: the best token always stays; with h=1 every token of the top 100 does
    exact(P.top_h(ids([[0]]), scores, 1.0), scores)
    assert torch.isfinite(P.top_h(ids([[0]]), scores, 0.01)).sum() == 1


# ------------------------------------------------------------------- live against transformers

VOCAB = 12


def random_inputs(seed: int, rows: int = 6, length: int = 7):
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, VOCAB, (rows, length), generator=gen)
    # rounded scores give ties, which the filters must break exactly as transformers does
    scores = torch.randn(rows, VOCAB, generator=gen).mul(3).round().div(2)
    return input_ids, scores


CASES = [
    (
        lambda: hf.RepetitionPenaltyLogitsProcessor(1.7),
        lambda i, s: P.repetition_penalty(i, s, 1.7),
    ),
    (
        lambda: hf.RepetitionPenaltyLogitsProcessor(0.6),
        lambda i, s: P.repetition_penalty(i, s, 0.6),
    ),
    (lambda: hf.NoRepeatNGramLogitsProcessor(1), lambda i, s: P.no_repeat_ngram(i, s, 1)),
    (lambda: hf.NoRepeatNGramLogitsProcessor(2), lambda i, s: P.no_repeat_ngram(i, s, 2)),
    (lambda: hf.NoRepeatNGramLogitsProcessor(3), lambda i, s: P.no_repeat_ngram(i, s, 3)),
    (
        lambda: hf.NoBadWordsLogitsProcessor([[3], [1, 2], [4, 5, 6], [7]], eos_token_id=7),
        lambda i, s: P.bad_words(i, s, [[3], [1, 2], [4, 5, 6], [7]], eos_token_id=7),
    ),
    (
        lambda: hf.MinLengthLogitsProcessor(9, eos_token_id=[2, 5]),
        lambda i, s: P.min_length(i, s, 9, [2, 5]),
    ),
    (
        lambda: hf.MinLengthLogitsProcessor(7, eos_token_id=2),
        lambda i, s: P.min_length(i, s, 7, 2),
    ),
    (
        lambda: hf.MinNewTokensLengthLogitsProcessor(3, 5, eos_token_id=4),
        lambda i, s: P.min_new_tokens(i, s, 3, 5, 4),
    ),
    (lambda: hf.ForcedBOSTokenLogitsProcessor(5), lambda i, s: P.forced_bos(i[:, :1], s, 5)),
    (
        lambda: hf.ForcedEOSTokenLogitsProcessor(8, [1, 3]),
        lambda i, s: P.forced_eos(i, s, 8, [1, 3]),
    ),
    (
        lambda: hf.SuppressTokensLogitsProcessor([0, 4, 11]),
        lambda i, s: P.suppress_tokens(i, s, [0, 4, 11]),
    ),
    (lambda: hf.TemperatureLogitsWarper(0.7), lambda i, s: P.temperature(i, s, 0.7)),
    (lambda: hf.TopKLogitsWarper(3), lambda i, s: P.top_k(i, s, 3)),
    (
        lambda: hf.TopKLogitsWarper(1, min_tokens_to_keep=2),
        lambda i, s: P.top_k(i, s, 1, min_tokens_to_keep=2),
    ),
    (lambda: hf.TopPLogitsWarper(0.6), lambda i, s: P.top_p(i, s, 0.6)),
    (
        lambda: hf.TopPLogitsWarper(0.1, min_tokens_to_keep=3),
        lambda i, s: P.top_p(i, s, 0.1, min_tokens_to_keep=3),
    ),
    (lambda: hf.MinPLogitsWarper(0.3), lambda i, s: P.min_p(i, s, 0.3)),
    (
        lambda: hf.MinPLogitsWarper(0.9, min_tokens_to_keep=2),
        lambda i, s: P.min_p(i, s, 0.9, min_tokens_to_keep=2),
    ),
    (
        lambda: hf.SequenceBiasLogitsProcessor([[[3], 1.5], [[1, 2], -2.0], [[4, 5, 6], 3.0]]),
        lambda i, s: P.sequence_bias(i, s, [[[3], 1.5], [[1, 2], -2.0], [[4, 5, 6], 3.0]]),
    ),
    (
        lambda: hf.SequenceBiasLogitsProcessor([[[2, 7], 1.0], [[5], -0.5], [[9, 2, 7], 2.5]]),
        lambda i, s: P.sequence_bias(i, s, [[[2, 7], 1.0], [[5], -0.5], [[9, 2, 7], 2.5]]),
    ),
    (
        lambda: hf.ExponentialDecayLengthPenalty((2, 1.7), [3, 8], 3),
        lambda i, s: P.exponential_decay_length_penalty(i, s, 2, 1.7, 3, [3, 8]),
    ),
    (
        lambda: hf.ExponentialDecayLengthPenalty((1, 0.5), 4, 2),
        lambda i, s: P.exponential_decay_length_penalty(i, s, 1, 0.5, 2, 4),
    ),
    (
        lambda: hf.SuppressTokensAtBeginLogitsProcessor([1, 6], 7),
        lambda i, s: P.begin_suppress_tokens(i, s, [1, 6], 7),
    ),
    (lambda: hf.InfNanRemoveLogitsProcessor(), P.remove_invalid_values),
    (lambda: hf.LogitNormalization(), P.renormalize),
    (lambda: hf.TopHLogitsWarper(0.4), lambda i, s: P.top_h(i, s, 0.4)),
    (lambda: hf.TopHLogitsWarper(0.9), lambda i, s: P.top_h(i, s, 0.9)),
    (lambda: hf.TypicalLogitsWarper(0.5), lambda i, s: P.typical_p(i, s, 0.5)),
    (
        lambda: hf.TypicalLogitsWarper(0.2, min_tokens_to_keep=3),
        lambda i, s: P.typical_p(i, s, 0.2, min_tokens_to_keep=3),
    ),
    (lambda: hf.EpsilonLogitsWarper(0.05), lambda i, s: P.epsilon_cutoff(i, s, 0.05)),
    (
        lambda: hf.EpsilonLogitsWarper(0.3, min_tokens_to_keep=2),
        lambda i, s: P.epsilon_cutoff(i, s, 0.3, min_tokens_to_keep=2),
    ),
    (lambda: hf.EtaLogitsWarper(0.05), lambda i, s: P.eta_cutoff(i, s, 0.05)),
    (
        lambda: hf.EtaLogitsWarper(0.5, min_tokens_to_keep=3),
        lambda i, s: P.eta_cutoff(i, s, 0.5, min_tokens_to_keep=3),
    ),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("make_hf, ours", CASES)
def test_matches_transformers(make_hf, ours, seed):
    input_ids, scores = random_inputs(seed)
    if isinstance(make_hf(), hf.ForcedBOSTokenLogitsProcessor):
        input_ids = input_ids[:, :1]
    exact(ours(input_ids, scores.clone()), make_hf()(input_ids, scores.clone()))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ngram_size", [1, 2, 3])
def test_encoder_no_repeat_ngram_matches_transformers(seed, ngram_size):
    input_ids, scores = random_inputs(seed, rows=6)  # 2 inputs x 3 beams
    encoder = torch.randint(0, VOCAB, (2, 10), generator=torch.Generator().manual_seed(seed))
    expected = hf.EncoderNoRepeatNGramLogitsProcessor(ngram_size, encoder)(input_ids, scores)
    exact(P.encoder_no_repeat_ngram(input_ids, scores, ngram_size, encoder), expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("penalty", [1.6, 0.7])
def test_encoder_repetition_penalty_matches_transformers(seed, penalty):
    input_ids, scores = random_inputs(seed, rows=6)  # 2 inputs x 3 beams
    encoder = torch.randint(0, VOCAB, (2, 10), generator=torch.Generator().manual_seed(seed))
    processor = hf.EncoderRepetitionPenaltyLogitsProcessor(penalty, encoder)
    exact(
        P.encoder_repetition_penalty(input_ids, scores, penalty, encoder),
        processor(input_ids, scores),
    )


@pytest.mark.parametrize("seed", range(4))
def test_remove_invalid_values_matches_transformers(seed):
    input_ids, scores = random_inputs(seed)
    gen = torch.Generator().manual_seed(seed)
    special = torch.tensor([math.nan, INF, -INF])[torch.randint(0, 3, scores.shape, generator=gen)]
    scores = torch.where(torch.rand(scores.shape, generator=gen) < 0.3, special, scores)
    expected = hf.InfNanRemoveLogitsProcessor()(input_ids, scores)
    exact(P.remove_invalid_values(input_ids, scores), expected)


# ------------------------------------------------------------------------- order of processors

HF_NAMES = {
    "sequence_bias": "SequenceBiasLogitsProcessor",
    "encoder_repetition_penalty": "EncoderRepetitionPenaltyLogitsProcessor",
    "remove_invalid_values": "InfNanRemoveLogitsProcessor",
    "exponential_decay_length_penalty": "ExponentialDecayLengthPenalty",
    "begin_suppress_tokens": "SuppressTokensAtBeginLogitsProcessor",
    "renormalize": "LogitNormalization",
    "top_h": "TopHLogitsWarper",
    "typical_p": "TypicalLogitsWarper",
    "epsilon_cutoff": "EpsilonLogitsWarper",
    "eta_cutoff": "EtaLogitsWarper",
    "repetition_penalty": "RepetitionPenaltyLogitsProcessor",
    "no_repeat_ngram": "NoRepeatNGramLogitsProcessor",
    "encoder_no_repeat_ngram": "EncoderNoRepeatNGramLogitsProcessor",
    "bad_words": "NoBadWordsLogitsProcessor",
    "min_length": "MinLengthLogitsProcessor",
    "min_new_tokens": "MinNewTokensLengthLogitsProcessor",
    "forced_bos": "ForcedBOSTokenLogitsProcessor",
    "forced_eos": "ForcedEOSTokenLogitsProcessor",
    "suppress_tokens": "SuppressTokensLogitsProcessor",
    "temperature": "TemperatureLogitsWarper",
    "top_k": "TopKLogitsWarper",
    "top_p": "TopPLogitsWarper",
    "min_p": "MinPLogitsWarper",
}

EVERYTHING = dict(
    repetition_penalty=1.2,
    no_repeat_ngram_size=2,
    encoder_no_repeat_ngram_size=3,
    bad_words_ids=[[4], [5, 6]],
    min_new_tokens=3,
    min_length=2,
    forced_bos_token_id=7,
    forced_eos_token_id=3,
    suppress_tokens=[8, 9],
    temperature=0.8,
    top_k=5,
    top_p=0.9,
    min_p=0.05,
    eos_token_id=3,
    max_new_tokens=6,
    sequence_bias=[[[2], 1.5], [[5, 6], -1.0]],
    encoder_repetition_penalty=1.4,
    remove_invalid_values=True,
    exponential_decay_length_penalty=(1, 1.5),
    begin_suppress_tokens=[3, 11],
    renormalize_logits=True,
    top_h=0.9,
    typical_p=0.9,
    epsilon_cutoff=0.01,
    eta_cutoff=0.02,
)


@pytest.mark.parametrize(
    "options",
    [
        dict(EVERYTHING),
        dict(EVERYTHING, do_sample=True),
        dict(EVERYTHING, do_sample=True, num_beams=3, eos_token_id=[3, 10]),
        dict(
            EVERYTHING,
            do_sample=True,
            eos_token_id=None,
            forced_eos_token_id=None,
            exponential_decay_length_penalty=None,
        ),
        dict(EVERYTHING, forced_bos_token_id=None),  # tokens suppressed at the first step
        dict(do_sample=True, max_new_tokens=6),
        dict(max_new_tokens=6),
    ],
)
def test_order_and_result_match_transformers(tiny_model, options):
    encoder = torch.randint(0, VOCAB, (2, 10), generator=torch.Generator().manual_seed(0))
    start = torch.zeros(2, 1, dtype=torch.long)
    config, ours = prepare(
        GenerationConfig(decoder_start_token_id=0), start, encoder_input_ids=encoder, **options
    )
    hf_config = hf.GenerationConfig(**config.to_dict())
    tiny_model._prepare_special_tokens(hf_config, device="cpu")
    theirs = tiny_model._get_logits_processor(
        generation_config=hf_config, input_ids_seq_length=1, encoder_input_ids=encoder, device="cpu"
    )
    names = [HF_NAMES[getattr(p, "func", p).__name__] for p in ours]
    assert names == [type(p).__name__ for p in theirs]

    beams = config.num_beams
    for length in (1, 2, 4, 5):
        input_ids, scores = random_inputs(length, rows=2 * beams, length=length)
        exact(apply_processors(ours, input_ids, scores), theirs(input_ids, scores.clone()))


def test_encoder_no_repeat_needs_encoder_ids():
    config = GenerationConfig(encoder_no_repeat_ngram_size=2)
    with pytest.raises(ValueError, match="encoder_input_ids"):
        build_processors(config, prompt_length=1)
