"""Search: token-exact parity with transformers' generate, invariants, streaming, errors."""

from __future__ import annotations

import types
from typing import Any

import pytest
import torch

from warmstart.torch.generation import (
    GenerationConfig,
    beam_search,
    expand_rows,
    generate,
    greedy,
    prepare,
    start_ids_for,
    stream,
)

PAD, EOS = 1, 3  # the tiny model's tokens, as in conftest.py
MAX_NEW = 12


def finishes_early(sequences: torch.Tensor, eos: int | list[int], max_length: int) -> bool:
    """Whether some row ends with eos before ``max_length`` (so shorter rows get padded)."""
    eos_ids = torch.tensor(eos if isinstance(eos, list) else [eos])
    return bool(torch.isin(sequences[:, 1 : max_length - 1], eos_ids).any())


def assert_same_as_transformers(model, options: dict[str, Any], seed: int | None = None):
    """Run ours and transformers' generate; compare sequences, scores and decoder calls."""
    options = dict(options)
    options.setdefault("max_new_tokens", MAX_NEW)
    calls = []
    hook = model.model.decoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        if seed is not None:
            torch.manual_seed(seed)
        ours = model.ours(output_scores=True, **options)
        our_steps, calls[:] = len(calls), []
        if seed is not None:
            torch.manual_seed(seed)
        theirs = model.hf(**options)
    finally:
        hook.remove()
    assert our_steps == len(calls) == len(ours.scores)  # both stop after the same step
    assert ours.sequences.shape == theirs.sequences.shape
    assert torch.equal(ours.sequences, theirs.sequences)
    assert len(ours.scores) == len(theirs.scores)
    for mine, hf_scores in zip(ours.scores, theirs.scores):
        torch.testing.assert_close(mine, hf_scores)
    if options.get("num_beams", 1) > 1:
        torch.testing.assert_close(
            ours.sequences_scores, theirs.sequences_scores, rtol=0, atol=1e-4
        )
    else:
        assert ours.sequences_scores is None
    return ours


GREEDY = [
    dict(),
    dict(max_new_tokens=None),  # no length given: 20 new tokens, as in transformers
    dict(repetition_penalty=1.3, no_repeat_ngram_size=2),
    dict(min_new_tokens=5),
    dict(encoder_no_repeat_ngram_size=2, bad_words_ids=[[5], [40, 41]], suppress_tokens=[7]),
    dict(max_new_tokens=None, max_length=9, forced_bos_token_id=10, forced_eos_token_id=EOS),
    dict(eos_token_id=[EOS, 69]),
    dict(pad_token_id=None),  # pads with the eos id
    dict(sequence_bias=[[[EOS], 1.0], [[5, 60], -3.0]], encoder_repetition_penalty=1.5),
    dict(exponential_decay_length_penalty=(3, 1.5), begin_suppress_tokens=[EOS, 7]),
    dict(remove_invalid_values=True, renormalize_logits=True, suppress_tokens=[9]),
    dict(guidance_scale=1.0, output_attentions=False, cache_implementation="static"),  # no-ops
]


@pytest.mark.parametrize("options", GREEDY)
def test_greedy_matches_transformers(bert2bert, options):
    ours = assert_same_as_transformers(bert2bert, options)
    max_length = options.get("max_length", (options.get("max_new_tokens", MAX_NEW) or 20) + 1)
    assert finishes_early(ours.sequences, options.get("eos_token_id", EOS), max_length)


BEAM = [
    dict(num_beams=4),
    dict(num_beams=3, early_stopping=True),
    dict(num_beams=3, early_stopping="never"),
    dict(num_beams=4, early_stopping="never", length_penalty=0.5),
    dict(num_beams=4, length_penalty=2.0, early_stopping=True),
    dict(num_beams=4, length_penalty=0.5, num_return_sequences=3),
    dict(num_beams=4, early_stopping=True, length_penalty=-0.5, num_return_sequences=2),
    dict(num_beams=4, no_repeat_ngram_size=2, repetition_penalty=1.3),
    dict(num_beams=4, min_new_tokens=4),
    dict(num_beams=3, pad_token_id=0),  # transformers then pads beams with the eos id
    dict(num_beams=3, eos_token_id=[EOS, 69]),
    dict(num_beams=3, early_stopping=True, eos_token_id=[EOS, 69]),  # ends once all are full
    dict(num_beams=2, eos_token_id=[EOS, 87, 35]),  # beams finish after the heuristic gave up
    dict(num_beams=3, early_stopping="never", length_penalty=-0.5),
    dict(num_beams=3, sequence_bias=[[[5], 2.0]], exponential_decay_length_penalty=(2, 1.3)),
    dict(num_beams=3, encoder_repetition_penalty=0.8, renormalize_logits=True),
]


@pytest.mark.parametrize("options", BEAM)
def test_beam_search_matches_transformers(bert2bert, options):
    ours = assert_same_as_transformers(bert2bert, options)
    assert ours.sequences.shape[0] == 6 * options.get("num_return_sequences", 1)
    assert finishes_early(ours.sequences, options.get("eos_token_id", EOS), MAX_NEW + 1)


@pytest.mark.parametrize(
    "options",
    [
        dict(num_beams=4, length_penalty=2.0),
        dict(num_beams=3, length_penalty=2.0, early_stopping="never"),
    ],
)
def test_beam_search_long_hypotheses_match_transformers(bert2bert, options):
    # A length penalty of 2 favours long hypotheses: every returned one runs to max_length.
    ours = assert_same_as_transformers(bert2bert, options)
    assert ours.sequences.shape == (6, MAX_NEW + 1)
    assert not finishes_early(ours.sequences, EOS, MAX_NEW + 1)


def test_beam_search_without_eos_matches_transformers(bert2bert):
    ours = assert_same_as_transformers(bert2bert, dict(num_beams=2, eos_token_id=None))
    assert ours.sequences.shape == (6, MAX_NEW + 1)


@pytest.mark.parametrize(
    "options",
    [
        dict(num_beams=3, length_penalty=2.0),
        dict(num_beams=2, length_penalty=2.0, early_stopping="never"),
    ],
)
def test_beam_search_with_many_finished_candidates_matches_transformers(two_eos_bert2bert, options):
    # With two eos ids, 3 * num_beams candidates are kept so that num_beams can live on; keeping
    # only 2 * num_beams (as with one eos) changes the results of both cases.
    options = dict(options, eos_token_id=[EOS, 4], max_new_tokens=8)
    assert_same_as_transformers(two_eos_bert2bert, options)


def test_beam_padding_follows_transformers(bert2bert):
    padded = bert2bert.ours(num_beams=3, max_new_tokens=MAX_NEW).sequences
    eos_padded = bert2bert.ours(num_beams=3, max_new_tokens=MAX_NEW, pad_token_id=0).sequences
    ended = [row for row in range(6) if padded[row, -1] == PAD]
    assert ended, "no row finished early"
    assert (eos_padded[ended, -1] == EOS).all()


SAMPLING = [
    dict(do_sample=True),
    dict(do_sample=True, temperature=0.7, top_k=5, top_p=0.9),
    dict(do_sample=True, num_return_sequences=3, min_p=0.1),
    dict(do_sample=True, num_beams=3),
    dict(do_sample=True, num_beams=3, num_return_sequences=2, temperature=1.5, top_k=10),
    dict(do_sample=True, typical_p=0.8, epsilon_cutoff=0.005),
    dict(do_sample=True, eta_cutoff=0.01, top_h=0.8, temperature=0.9),
    dict(do_sample=True, num_beams=2, typical_p=0.9, eta_cutoff=0.005),
]


@pytest.mark.parametrize("options", SAMPLING)
def test_sampling_matches_transformers_with_the_same_seed(bert2bert, options):
    assert_same_as_transformers(bert2bert, options, seed=5)


# -------------------------------------------------------------------- raw logits and max_time

LOGITS = [
    dict(),
    dict(repetition_penalty=1.3),
    dict(do_sample=True, top_k=5),
    dict(num_beams=3, num_return_sequences=2),
    dict(num_beams=3, do_sample=True),
]


@pytest.mark.parametrize("options", LOGITS)
def test_output_logits_matches_transformers(bert2bert, options):
    ours = assert_same_as_transformers(bert2bert, dict(options, output_logits=True), seed=3)
    torch.manual_seed(3)
    theirs = bert2bert.hf(output_logits=True, max_new_tokens=MAX_NEW, **options)
    assert len(ours.logits) == len(theirs.logits) == len(ours.scores)
    for mine, hf_logits in zip(ours.logits, theirs.logits):
        torch.testing.assert_close(mine, hf_logits)
    if options.get("num_beams", 1) > 1:
        assert torch.equal(ours.beam_indices, theirs.beam_indices)
        names = ["sequences", "sequences_scores", "scores", "logits", "beam_indices"]
        assert list(ours.keys()) == names
    else:
        assert ours.beam_indices is None and list(ours.keys()) == ["sequences", "scores", "logits"]
    assert bert2bert.ours(max_new_tokens=3, **options).logits is None  # only when asked for


def test_beam_search_returns_what_transformers_returns(bert2bert):
    ours = bert2bert.ours(num_beams=3, max_new_tokens=MAX_NEW)
    options = dict(decoder_start_token_id=2, pad_token_id=PAD, eos_token_id=EOS)
    theirs = bert2bert.model.generate(
        bert2bert.input_ids,
        attention_mask=bert2bert.attention_mask,
        num_beams=3,
        max_new_tokens=MAX_NEW,
        return_dict_in_generate=True,
        **options,
    )
    assert ours.sequences_scores is None and theirs.sequences_scores is None  # no output_scores
    assert torch.equal(ours.sequences, theirs.sequences)
    assert torch.equal(ours.beam_indices, theirs.beam_indices)


def test_use_cache_is_accepted_and_changes_nothing(bert2bert):
    plain = bert2bert.ours(max_new_tokens=MAX_NEW, num_beams=2).sequences
    assert torch.equal(
        bert2bert.ours(max_new_tokens=MAX_NEW, num_beams=2, use_cache=False).sequences, plain
    )


class FakeClock:
    """One second passes per decoder call."""

    def __init__(self, model) -> None:
        self.now = 1000.0
        self.hook = model.model.decoder.register_forward_hook(lambda *args: self.tick())

    def tick(self) -> None:
        self.now += 1.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "options",
    [dict(), dict(do_sample=True), dict(num_beams=3), dict(num_beams=2, num_return_sequences=2)],
)
def test_max_time_stops_as_transformers_does(bert2bert, monkeypatch, options):
    from transformers.generation import stopping_criteria

    from warmstart.torch.generation import search

    clock = FakeClock(bert2bert)
    monkeypatch.setattr(search, "monotonic", clock)
    monkeypatch.setattr(stopping_criteria, "time", types.SimpleNamespace(time=clock))
    try:
        ours = assert_same_as_transformers(bert2bert, dict(options, max_time=2.5), seed=4)
    finally:
        clock.hook.remove()
    assert ours.sequences.shape[1] == 1 + 3  # stopped after the third step, not at max_length
    assert len(ours.scores) == 3


def test_max_time_with_real_clock(bert2bert):
    full = bert2bert.ours(max_new_tokens=MAX_NEW)
    assert torch.equal(
        bert2bert.ours(max_new_tokens=MAX_NEW, max_time=60.0).sequences, full.sequences
    )
    assert bert2bert.ours(max_new_tokens=MAX_NEW, max_time=0.0).sequences.shape[1] == 2
    beams = bert2bert.ours(max_new_tokens=MAX_NEW, max_time=0.0, num_beams=2)
    assert beams.sequences.shape[1] == 2


# ------------------------------------------------------------------------------------- sampling


def test_same_generator_seed_same_samples(bert2bert):
    def draw(seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return bert2bert.ours(do_sample=True, max_new_tokens=MAX_NEW, generator=gen).sequences

    state = torch.get_rng_state()
    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not used


def test_top_k_1_sampling_is_greedy(bert2bert):
    gen = torch.Generator().manual_seed(0)
    sampled = bert2bert.ours(do_sample=True, top_k=1, max_new_tokens=MAX_NEW, generator=gen)
    assert torch.equal(sampled.sequences, bert2bert.ours(max_new_tokens=MAX_NEW).sequences)


def test_sampling_num_return_sequences(bert2bert):
    gen = torch.Generator().manual_seed(0)
    out = bert2bert.ours(do_sample=True, num_return_sequences=4, max_new_tokens=6, generator=gen)
    assert out.sequences.shape[0] == 24
    groups = out.sequences.view(6, 4, -1)
    assert all(len({tuple(s.tolist()) for s in group}) > 1 for group in groups)


# ----------------------------------------------------------------------------------- invariants


class Toy:
    """A batch-invariant model: logits depend on the last two tokens and a per-row context."""

    def __init__(self, vocab: int = 20):
        gen = torch.Generator().manual_seed(0)
        self.last = torch.randn(vocab, vocab, generator=gen) * 2
        self.before = torch.randn(vocab, vocab, generator=gen)
        self.context = torch.randn(6, vocab, generator=gen)

    def cache(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(len(rows), 0, dtype=torch.long), self.context[rows]

    def step(self, tokens: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        prefix, context = torch.cat([cache[0], tokens], dim=1), cache[1]
        logits = self.last[prefix[:, -1]] + context
        if prefix.shape[1] > 1:
            logits = logits + self.before[prefix[:, -2]]
        return logits, (prefix, context)

    @staticmethod
    def reorder(cache: Any, index: torch.Tensor) -> Any:
        return tuple(t.index_select(0, index) for t in cache)

    def generate(self, rows: list[int], **options: Any):
        start = torch.zeros(len(rows), 1, dtype=torch.long)
        options = dict(dict(eos_token_id=1, pad_token_id=2, max_new_tokens=10), **options)
        return generate(self.step, self.reorder, self.cache(rows), start, **options)


def pad_to(sequences: torch.Tensor, width: int, fill: int) -> torch.Tensor:
    return torch.nn.functional.pad(sequences, (0, width - sequences.shape[1]), value=fill)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(num_beams=3),
        dict(num_beams=3, early_stopping=True, num_return_sequences=2),
        dict(num_beams=4, early_stopping="never", length_penalty=0.5, no_repeat_ngram_size=2),
    ],
)
def test_batch_equals_rows_one_by_one(options):
    toy = Toy()
    batch = toy.generate(list(range(6)), **options)
    assert finishes_early(batch.sequences, 1, 11)
    per_input = options.get("num_return_sequences", 1)
    for row in range(6):
        alone = toy.generate([row], **options)
        mine = slice(row * per_input, (row + 1) * per_input)
        assert torch.equal(
            batch.sequences[mine], pad_to(alone.sequences, batch.sequences.shape[1], 2)
        )
        if alone.sequences_scores is not None:
            assert torch.equal(batch.sequences_scores[mine], alone.sequences_scores)


def test_beam_search_with_one_beam_is_greedy():
    toy = Toy()
    start = torch.zeros(6, 1, dtype=torch.long)
    options = dict(eos_token_id=1, pad_token_id=2, max_new_tokens=10, early_stopping=True)
    config, processors = prepare(GenerationConfig(**options), start)
    greedy_out = greedy(toy.step, toy.cache(list(range(6))), start, config, processors)
    beam_out = beam_search(
        toy.step, toy.reorder, toy.cache(list(range(6))), start, config, processors
    )
    assert finishes_early(greedy_out.sequences, 1, 11)
    assert torch.equal(beam_out.sequences, greedy_out.sequences)


def test_lengths_count_the_start_token():
    toy = Toy()
    out = toy.generate([0, 1], eos_token_id=None, max_new_tokens=None, max_length=5)
    assert out.sequences.shape == (2, 5) and (out.sequences[:, 0] == 0).all()
    out = toy.generate([0, 1], eos_token_id=None, max_new_tokens=3, max_length=50)
    assert out.sequences.shape == (2, 4)
    out = toy.generate([0, 1], eos_token_id=None, max_new_tokens=None)  # 20 new tokens
    assert out.sequences.shape == (2, 21)
    out = toy.generate([0, 1], eos_token_id=None, max_new_tokens=None, num_beams=2)
    assert out.sequences.shape == (2, 21)


def test_reorder_expands_once_then_follows_beams():
    toy, calls = Toy(), []

    def reorder(cache, index):
        calls.append(index.tolist())
        return toy.reorder(cache, index)

    start = torch.zeros(2, 1, dtype=torch.long)
    generate(toy.step, reorder, toy.cache([0, 1]), start, num_beams=3, max_new_tokens=4)
    assert calls[0] == [0, 0, 0, 1, 1, 1]
    assert len(calls) == 4 and all(len(c) == 6 for c in calls)  # no reorder after the last step
    calls.clear()
    generate(toy.step, reorder, toy.cache([0, 1]), start, max_new_tokens=4)
    assert calls == []


def test_config_is_not_modified():
    config = GenerationConfig(max_new_tokens=4, min_new_tokens=2, eos_token_id=1)
    before = GenerationConfig(**vars(config))
    toy = Toy()
    generate(toy.step, toy.reorder, toy.cache([0]), torch.zeros(1, 1, dtype=torch.long), config)
    assert config == before


# ------------------------------------------------------------------------------------ streaming


def test_streamer_sees_every_new_token(bert2bert):
    seen: list[torch.Tensor | None] = []
    out = bert2bert.ours(max_new_tokens=MAX_NEW, streamer=seen.append)
    assert seen[-1] is None
    assert torch.equal(torch.stack(seen[:-1], dim=1), out.sequences[:, 1:])


def test_stream_iterator(bert2bert):
    def consume():
        output = yield from stream(
            bert2bert.step,
            bert2bert.reorder,
            bert2bert.cache(),
            bert2bert.start_ids(),
            eos_token_id=EOS,
            pad_token_id=PAD,
            max_new_tokens=MAX_NEW,
        )
        tokens.append(output)

    tokens: list[Any] = []
    steps = list(consume())
    output = tokens[0]
    assert torch.equal(torch.stack(steps, dim=1), output.sequences[:, 1:])
    assert torch.equal(output.sequences, bert2bert.ours(max_new_tokens=MAX_NEW).sequences)


# --------------------------------------------------------------------------------------- errors

INVALID_OPTIONS = [
    (dict(num_beam=4), "Unknown generation options"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(do_sample=True, top_p=0.0), "top_p"),
    (dict(top_p=1.2), "top_p"),
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=None, max_length=1), "max_length"),
    (dict(num_beams=0), "num_beams"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(top_k=-1), "top_k"),
    (dict(min_p=2.0), "min_p"),
    (dict(eos_token_id=-3), "eos_token_id"),
    (dict(bad_words_ids=[[500]]), "outside the vocabulary"),
    (dict(forced_bos_token_id=4, suppress_tokens=[4]), "suppress_tokens"),
    (dict(num_beams=2, streamer=print), "streamer"),
    (dict(guidance_scale=1.5), "guidance_scale=1.5"),
    (dict(output_attentions=True), "output_attentions=True"),
    (dict(output_hidden_states=True), "output_hidden_states=True"),
    (dict(num_beams=4, num_beam_groups=2, diversity_penalty=0.5), "num_beam_groups=2"),
    (dict(stop_strings=["end"]), "stop_strings"),
    (dict(force_words_ids=[[5]]), "force_words_ids"),
    (dict(watermarking_config={"bias": 2.0}), "watermarking_config"),
    (dict(exponential_decay_length_penalty=(1, 2.0), eos_token_id=None), "eos_token_id"),
    (dict(encoder_repetition_penalty=1.2), "encoder_input_ids"),
    (dict(sequence_bias=[[[500], 1.0]]), "outside the vocabulary"),
    (dict(typical_p=0.0), "typical_p"),
]


@pytest.mark.parametrize("options, message", INVALID_OPTIONS)
def test_generate_errors(options, message):
    toy = Toy()
    options = dict(dict(max_new_tokens=3), **options)
    with pytest.raises(ValueError, match=message):
        toy.generate([0, 1], **options)


def test_generate_input_errors():
    toy = Toy()
    cache = toy.cache([0, 1])
    start = torch.zeros(2, 1, dtype=torch.long)
    run = toy.step, toy.reorder, cache
    with pytest.raises(ValueError, match="start_ids"):
        generate(*run, torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="start_ids"):
        generate(*run, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="start_ids"):
        generate(*run, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="max_length"):
        generate(*run, torch.zeros(2, 20, dtype=torch.long), max_length=20)
    with pytest.raises(ValueError, match="encoder_input_ids"):
        generate(*run, start, encoder_no_repeat_ngram_size=2)
    with pytest.raises(ValueError, match="encoder_input_ids"):
        generate(*run, start, encoder_input_ids=torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="Beam search cannot be streamed"):
        next(stream(*run, start, num_beams=2))


def test_start_ids_for():
    config = GenerationConfig(bos_token_id=4)
    assert start_ids_for(config, 2).tolist() == [[4], [4]]
    config.decoder_start_token_id = 7
    assert start_ids_for(config, 1).tolist() == [[7]]
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        start_ids_for(GenerationConfig(), 1)


def test_expand_rows():
    ids, cache = expand_rows(Toy.reorder, (torch.tensor([[5], [6]]),), torch.tensor([[1], [2]]), 2)
    assert ids.tolist() == [[1], [1], [2], [2]] and cache[0].tolist() == [[5], [5], [6], [6]]
