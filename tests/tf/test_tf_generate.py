"""TensorFlow generation against the PyTorch side's tokens (greedy, beam search, the logits
controls), and the same tokens eagerly and under ``tf.function(jit_compile=True)``."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import torch
from tf.conftest import TOKENS

from warmstart import EncoderDecoderModel
from warmstart.tf import TFEncoderDecoderModel

CASES = {
    "greedy": dict(max_new_tokens=12),
    "beam4": dict(max_new_tokens=12, num_beams=4),
    "beam_returns": dict(
        max_new_tokens=10, num_beams=3, num_return_sequences=2, length_penalty=0.5
    ),
    "beam_early": dict(max_new_tokens=10, num_beams=4, early_stopping=True, min_length=4),
    "beam_never": dict(max_length=9, num_beams=2, early_stopping="never", length_penalty=2.0),
    "penalties": dict(
        max_new_tokens=12, no_repeat_ngram_size=2, repetition_penalty=1.3, min_new_tokens=5
    ),
    "forced": dict(
        max_new_tokens=8, forced_bos_token_id=7, forced_eos_token_id=3, suppress_tokens=[5, 6]
    ),
    "begin_suppress": dict(max_new_tokens=6, num_beams=2, begin_suppress_tokens=[3, 26]),
}


@pytest.fixture(scope="module")
def models(generating_dir):
    return (
        EncoderDecoderModel.from_pretrained(generating_dir),
        TFEncoderDecoderModel.from_pretrained(generating_dir),
    )


@pytest.fixture(scope="module")
def source() -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.randint(4, 99, (3, 9))
    x[1, 6:] = TOKENS["pad_token_id"]
    return x


@pytest.mark.parametrize("case", sorted(CASES))
def test_tokens_equal_the_pytorch_side(case, models, source):
    theirs, ours = models
    expected = theirs.generate(source, **CASES[case]).numpy()
    got = ours.generate(source.numpy(), **CASES[case]).numpy()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["bert2gpt2", "roberta2roberta", "bart2bart", "electra2bert"])
def test_every_decoder_family_decodes_as_pytorch(name, pairing_dirs, source):
    theirs = EncoderDecoderModel.from_pretrained(pairing_dirs[name])
    ours = TFEncoderDecoderModel.from_pretrained(pairing_dirs[name])
    x = source.clamp(min=2)  # pad id 1: no padding
    for options in (
        dict(max_new_tokens=6, no_repeat_ngram_size=1),
        dict(max_new_tokens=5, num_beams=3),
    ):
        expected = theirs.generate(x, **options).numpy()
        np.testing.assert_array_equal(ours.generate(x.numpy(), **options).numpy(), expected)


def _padded(a: np.ndarray, length: int, fill: int) -> np.ndarray:
    return np.pad(a, ((0, 0), (0, length - a.shape[1])), constant_values=fill)


@pytest.mark.parametrize(
    "options",
    [
        dict(max_new_tokens=10, repetition_penalty=2.0),
        dict(max_new_tokens=10, num_beams=4, no_repeat_ngram_size=1),
        dict(max_new_tokens=10, do_sample=True, seed=3, top_k=5, top_p=0.8, temperature=0.7),
    ],
    ids=["greedy", "beam4", "sampling"],
)
def test_xla_tokens_equal_eager_tokens(options, models, source):
    _, ours = models
    x = tf.constant(source.numpy())
    eager = ours.generate(x, **options).numpy()
    compiled = tf.function(lambda x: ours.generate(x, **options), jit_compile=True)(x).numpy()
    assert compiled.shape == (3, 11)  # a static length under XLA
    np.testing.assert_array_equal(compiled, _padded(eager, 11, TOKENS["pad_token_id"]))


def test_sampling_follows_its_seed(models, source):
    _, ours = models
    x = source.numpy()
    options = dict(max_new_tokens=8, do_sample=True, top_k=20)
    a = ours.generate(x, seed=5, **options).numpy()
    np.testing.assert_array_equal(ours.generate(x, seed=5, **options).numpy(), a)
    assert not np.array_equal(ours.generate(x, seed=6, **options).numpy(), a)
    greedy = ours.generate(x, max_new_tokens=8).numpy()  # one token kept: sampling is greedy
    np.testing.assert_array_equal(
        ours.generate(x, do_sample=True, top_k=1, max_new_tokens=8), greedy
    )
    out = ours.generate(x, do_sample=True, num_return_sequences=2, max_new_tokens=4, seed=1)
    assert out.shape[0] == 6


def test_settings_follow_the_model_config_and_refuse_what_tf_lacks(models, source):
    _, ours = models
    x = source.numpy()
    first = ours.generate(x, max_new_tokens=3).numpy()
    assert (first[:, 0] == TOKENS["decoder_start_token_id"]).all()
    ours.config.decoder_start_token_id = 7
    try:
        assert (ours.generate(x, max_new_tokens=3).numpy()[:, 0] == 7).all()
    finally:
        ours.config.decoder_start_token_id = TOKENS["decoder_start_token_id"]
    with pytest.raises(NotImplementedError, match="bad_words_ids"):
        ours.generate(x, bad_words_ids=[[5]])
    with pytest.raises(TypeError, match="unknown options"):
        ours.generate(x, max_new_tokenz=3)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        ours.generate(x, max_new_tokens=100)


def test_decode_loops_read_transposed_weights_and_restore_them(models):
    decoder = models[1].decoder
    before = decoder.p
    with decoder.transposed():
        view = decoder.p
    assert decoder.p is before and not any(k.endswith(".T") for k in before)
    head = decoder.output_name
    w = before[head] if head in before else decoder.get_input_embeddings()
    np.testing.assert_array_equal(view[head + ".T"].numpy(), w.numpy().T)
    dense = [k for k in before if k.endswith("intermediate.dense.weight")]
    assert dense and all(k + ".T" in view for k in dense)
