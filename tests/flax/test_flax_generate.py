"""The Flax jit generate against the PyTorch side's generate on the same weights: greedy, beam
search, the logits processors, sampling's filters, precomputed encoder outputs and settings changed
after creation. One model for the module; each settings' loop compiles once."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from tiny_configs import IDS, tiny_bert2bert

from warmstart.flax import FlaxEncoderDecoderModel
from warmstart.torch.generation import processors as P

SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
MASK = (SOURCE != 0).astype(np.int32)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(the PyTorch model, the Flax model) loaded from one folder."""
    folder = tmp_path_factory.mktemp("bert2bert")
    _, ours = tiny_bert2bert(folder, randomized=True)
    return ours, FlaxEncoderDecoderModel.from_pretrained(folder)


def both(pair, **options):
    theirs, ours = pair
    with torch.no_grad():
        a = theirs.generate(torch.tensor(SOURCE), attention_mask=torch.tensor(MASK), **options)
    b = np.asarray(ours.generate(SOURCE, attention_mask=MASK, **options).sequences)
    return a.numpy(), unpad(b, a.shape[1], ours._generation_config(None))


def unpad(sequences: np.ndarray, length: int, gen) -> np.ndarray:
    """The Flax side's full-length sequences (transformers 4.x's Flax shape) cut to the PyTorch
    side's ``length``, after checking that all they had past it is padding (pad, or EOS after
    a finished beam hypothesis)."""
    assert np.isin(sequences[:, length:], [gen.pad_token_id, *gen.eos_ids()]).all()
    return sequences[:, :length]


@pytest.mark.parametrize(
    "options",
    [
        dict(max_new_tokens=12),
        dict(max_new_tokens=12, num_beams=4),
        dict(max_new_tokens=10, num_beams=3, num_return_sequences=2, length_penalty=0.5),
        dict(
            max_new_tokens=10,
            no_repeat_ngram_size=2,
            repetition_penalty=1.3,
            min_length=6,
            suppress_tokens=[7],
            forced_eos_token_id=IDS["eos_token_id"],
        ),
    ],
    ids=["greedy", "beam4", "beam3-return2", "processors"],
)
def test_tokens_equal_pytorch(pair, options):
    a, b = both(pair, **options)
    np.testing.assert_array_equal(b, a)


def test_encoder_outputs_and_start_token_set_later(pair):
    ours = pair[1]
    expected = ours.generate(SOURCE, attention_mask=MASK, max_new_tokens=12).sequences
    encoded = ours.encode(SOURCE, MASK)
    got = ours.generate(encoder_outputs=encoded, attention_mask=MASK, max_new_tokens=12)
    np.testing.assert_array_equal(got.sequences, expected)
    for model in pair:
        model.config.decoder_start_token_id = 4
    try:
        a, b = both(pair, max_new_tokens=12)
    finally:
        for model in pair:
            model.config.decoder_start_token_id = IDS["decoder_start_token_id"]
    assert (b[:, 0] == 4).all()
    np.testing.assert_array_equal(b, a)


def test_sampling(pair):
    theirs, ours = pair
    options = dict(max_new_tokens=8, do_sample=True, temperature=0.7, top_k=3, top_p=0.9)
    runs = [
        ours.generate(SOURCE, attention_mask=MASK, prng_key=jax.random.key(k), **options).sequences
        for k in (1, 1, 2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])  # the key decides
    for seqs in runs:  # every sampled token is among the 3 best of the PyTorch side's logits
        with torch.no_grad():
            logits = theirs(
                input_ids=torch.tensor(SOURCE),
                attention_mask=torch.tensor(MASK),
                decoder_input_ids=torch.tensor(seqs[:, :-1]),
            ).logits
        top3 = logits.topk(3).indices.numpy()  # (B, T, 3)
        live = np.cumsum(seqs[:, :-1] == IDS["eos_token_id"], axis=1) == 0  # before eos
        picked = (top3 == seqs[:, 1:, None]).any(-1)
        assert picked[live].all()


def test_processors_match_pytorch():
    from warmstart.flax import generation as G

    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 9, (3, 10))
    length = 7
    scores = rng.normal(size=(3, 9)).astype(np.float32)
    ids, s = torch.tensor(seqs[:, :length]), torch.tensor(scores)
    ngrams = jax.jit(G.no_repeat_ngram, static_argnums=3)  # compiled: faster than op by op
    cases = [
        (ngrams(seqs, length, scores, 2), P.no_repeat_ngram(ids, s, 2)),
        (ngrams(seqs, length, scores, 3), P.no_repeat_ngram(ids, s, 3)),
        (
            jax.jit(G.repetition_penalty)(seqs, length, scores, 1.5),
            P.repetition_penalty(ids, s, 1.5),
        ),
        (jax.jit(G.top_k, static_argnums=(1, 2))(scores, 3, 1), P.top_k(ids, s, 3)),
        (jax.jit(G.top_p, static_argnums=(1, 2))(scores, 0.8, 1), P.top_p(ids, s, 0.8)),
    ]
    for got, expected in cases:
        np.testing.assert_allclose(np.asarray(got), expected.numpy(), rtol=1e-6)


def test_the_core_plan_s_processors_run_in_order_as_on_pytorch():
    from warmstart.flax import generation as G
    from warmstart.generation.plan import make_plan

    plan = make_plan(None, 1, side="flax", remove_invalid_values=True, suppress_tokens=[1])
    scores = np.array([[0.5, 2.0, np.nan, np.inf, -np.inf]], np.float32)
    got = G.process(plan, np.zeros((1, 4), np.int32), 2, scores)
    ids, s = torch.zeros((1, 2), dtype=torch.long), torch.tensor(scores)
    expected = P.suppress_tokens(ids, P.remove_invalid_values(ids, s), [1])
    np.testing.assert_array_equal(np.asarray(got), expected.numpy())


def test_unimplemented_option_is_refused(pair):
    with pytest.raises(ValueError, match="typical_p"):
        pair[1].generate(SOURCE, typical_p=0.5)
