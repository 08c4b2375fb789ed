"""transformers 4.x Flax code ports by changing the import: model instances and transformers'
config objects in ``from_encoder_decoder_pretrained``, 4.x's keywords on every call, attention
weights and hidden states (only when asked) equal to transformers' PyTorch model's on the same
weights, transformers' output objects read as ``encoder_outputs``, and ``generate`` padded to
``max_length`` as 4.x's Flax generate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as hf
from tiny_configs import BART_TINY, GPT2_TINY, TINY, WIDE

from warmstart import BertConfig, EncoderDecoderConfig, GPT2Config
from warmstart.flax import (
    FlaxBartForCausalLM,
    FlaxBertForCausalLM,
    FlaxBertModel,
    FlaxEncoderDecoderModel,
    FlaxGPT2LMHeadModel,
)

SOURCE = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
MASK = (SOURCE != 0).astype(np.int32)
TARGET = np.array([[2, 5, 6, 7], [2, 8, 9, 3]])
TOKENS = dict(decoder_start_token_id=2, pad_token_id=0)
DECODERS = {
    "gpt2": (FlaxGPT2LMHeadModel, hf.GPT2Config(add_cross_attention=True, **GPT2_TINY)),
    "bert": (FlaxBertForCausalLM, hf.BertConfig(is_decoder=True, add_cross_attention=True, **TINY)),
    "bart": (FlaxBartForCausalLM, hf.BartConfig(add_cross_attention=True, **BART_TINY)),
}


def composed(kind: str, encoder_config=None) -> FlaxEncoderDecoderModel:
    """A composite warm-started from two model instances built from transformers' configs."""
    cls, config = DECODERS[kind]
    encoder = FlaxBertModel(encoder_config or hf.BertConfig(**WIDE), seed=1)
    decoder = cls(config, seed=2)
    model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
        encoder_model=encoder, decoder_model=decoder, return_dict=True, **TOKENS
    )
    draw = np.random.default_rng(0)  # no zero biases or unit scales to hide a mistake
    model.params = jax.tree.map(lambda p: p + 0.05 * draw.normal(size=p.shape), model.params)
    return model


@pytest.fixture(scope="module", params=sorted(DECODERS))
def pair(request, tmp_path_factory):
    """(a Flax composite of each decoder kind, transformers' PyTorch model on its saved folder)."""
    model = composed(request.param)
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    theirs = hf.EncoderDecoderModel.from_pretrained(folder, attn_implementation="eager").eval()
    return model, theirs


def test_instances_keep_their_params():
    encoder = FlaxBertModel(hf.BertConfig(**WIDE), seed=1)
    decoder = FlaxGPT2LMHeadModel(hf.GPT2Config(add_cross_attention=True, **GPT2_TINY), seed=2)
    model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
        encoder_model=encoder, decoder_model=decoder
    )
    for side, half in (("encoder", encoder), ("decoder", decoder)):
        same = jax.tree.map(lambda a, b: bool((a == b).all()), half.params, model.params[side])
        assert all(jax.tree.leaves(same)), side
    assert model.config.decoder.is_decoder and model.config.decoder.add_cross_attention
    assert "enc_to_dec_proj" in model.params  # 48 -> 32: the new projection


def test_decoder_instance_without_cross_attention_gets_a_new_one(caplog):
    decoder = FlaxBertForCausalLM(BertConfig(is_decoder=True, **TINY), seed=2)
    assert "crossattention" not in decoder.params["bert"]["encoder"]["layer"]["0"]
    encoder = FlaxBertModel(BertConfig(**TINY), seed=1)
    model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
        encoder_model=encoder, decoder_model=decoder, **TOKENS
    )
    assert "crossattention" in model.params["decoder"]["bert"]["encoder"]["layer"]["0"]
    assert "crossattention" in caplog.text  # reported as newly initialised
    assert model(SOURCE, MASK, TARGET).logits.shape == (2, 4, 99)


def test_wrong_kind_of_instance_is_one_clear_line():
    encoder = FlaxBertModel(BertConfig(**TINY))
    with pytest.raises(ValueError, match="pass a causal LM") as error:
        FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(
            encoder_model=encoder, decoder_model=encoder
        )
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="encoder_model= \\(a model instance\\)"):
        FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(decoder_model=encoder)


def test_transformers_configs_everywhere():
    composite = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.GPT2Config(**GPT2_TINY)
    )
    model = FlaxEncoderDecoderModel(composite)
    assert isinstance(model.config, EncoderDecoderConfig)
    assert isinstance(model.config.decoder, GPT2Config) and model.config.decoder.is_decoder
    assert model(SOURCE, MASK, TARGET).logits.shape == (2, 4, 99)
    half = FlaxBertModel(hf.BertConfig(use_cache=False, **TINY))
    assert half.config.use_cache is False  # fields of the given config kept
    with pytest.raises(TypeError, match="from_encoder_decoder_configs") as error:
        FlaxEncoderDecoderModel(hf.BertConfig(**TINY))
    assert str(error.value).count("EncoderDecoderConfig") == 1  # named once, in the remedy


def test_attentions_and_hidden_states_equal_pytorch(pair):
    model, theirs = pair
    with torch.no_grad():
        want = theirs(
            input_ids=torch.tensor(SOURCE),
            attention_mask=torch.tensor(MASK),
            decoder_input_ids=torch.tensor(TARGET),
            output_attentions=True,
            output_hidden_states=True,
        )
    got = model(SOURCE, MASK, TARGET, output_attentions=True, output_hidden_states=True)
    names = [
        "encoder_attentions",
        "decoder_attentions",
        "cross_attentions",
        "encoder_hidden_states",
        "decoder_hidden_states",
    ]
    for name in names:
        ours, ref = getattr(got, name), getattr(want, name)
        assert len(ours) == len(ref), name
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_allclose(np.asarray(a), b.numpy(), atol=1e-5, rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(np.asarray(got.logits), want.logits.numpy(), atol=1e-4, rtol=1e-4)


def test_only_when_asked_and_tuples(pair):
    model = pair[0]
    plain = model(SOURCE, MASK, TARGET)
    assert list(plain.keys()) == ["logits", "encoder_last_hidden_state"]
    as_tuple = model(SOURCE, MASK, TARGET, output_attentions=True, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 5  # logits, 3 attentions, encoder
    model.config.output_hidden_states = True  # the config's default, as 4.x reads it
    try:
        assert "decoder_hidden_states" in model(SOURCE, MASK, TARGET)
    finally:
        model.config.output_hidden_states = False
    encoded = model.encode(SOURCE, MASK, output_attentions=True)
    assert len(encoded.attentions) == 2 and encoded.hidden_states is None
    decoded = model.decode(TARGET, encoded, encoder_attention_mask=MASK, output_attentions=True)
    assert len(decoded.cross_attentions) == 2 and decoded.attentions[0].shape[-2:] == (4, 4)
    assert isinstance(model.encode(SOURCE, return_dict=False), tuple)


def test_halves_take_4x_keywords():
    encoder = FlaxBertModel(hf.BertConfig(**TINY))
    out = encoder(SOURCE, MASK, output_hidden_states=True, position_ids=np.arange(6)[None])
    assert len(out.hidden_states) == 3 and out.pooler_output.shape == (2, 32)
    decoder = FlaxGPT2LMHeadModel(hf.GPT2Config(**GPT2_TINY))
    cache = decoder.init_cache(2, 8)
    step = decoder(TARGET[:, :3], past_key_values=cache, output_attentions=True)
    nxt = decoder(TARGET[:, 3:], past_key_values=step.past_key_values, position_ids=[[3], [3]])
    whole = decoder(TARGET)
    np.testing.assert_allclose(nxt.logits[:, -1], whole.logits[:, -1], atol=1e-5)
    assert len(step.attentions) == 2 and step.cross_attentions == ()
    with pytest.raises(ValueError, match="leave position_ids out"):
        decoder(TARGET, position_ids=np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="leave it out"):
        encoder(SOURCE, head_mask=np.ones((2, 4)))


def test_transformers_output_objects_as_encoder_outputs(pair):
    model = pair[0]
    states = model.encode(SOURCE, MASK).last_hidden_state
    wrapped = hf.modeling_outputs.BaseModelOutput(last_hidden_state=states)
    direct = model.decode(TARGET, states, encoder_attention_mask=MASK).logits
    np.testing.assert_array_equal(
        model.decode(TARGET, wrapped, encoder_attention_mask=MASK).logits, direct
    )
    a = model.generate(SOURCE, attention_mask=MASK, max_new_tokens=4).sequences
    b = model.generate(encoder_outputs=wrapped, attention_mask=MASK, max_new_tokens=4).sequences
    np.testing.assert_array_equal(a, b)


def test_generate_pads_to_max_length():
    model = composed("gpt2")
    out = model.generate(SOURCE, max_length=12, pad_token_id=0, eos_token_id=None)
    assert out.sequences.shape == (2, 12)
    # every token ends a row, so every row ends at its first token: still the full length
    ended = model.generate(SOURCE, max_length=12, pad_token_id=0, eos_token_id=list(range(1, 99)))
    assert ended.sequences.shape == (2, 12)
    assert (np.asarray(ended.sequences)[:, 2:] == 0).all()


def test_init_weights_dtype_and_seeds():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY)
    )
    model = FlaxEncoderDecoderModel(config, (1, 1), 0, dtype=jnp.float32)  # 4.x's positions
    words = ("embeddings", "word_embeddings", "embedding")

    def table(params, side="encoder"):
        tree = params[side] if side == "encoder" else params[side]["bert"]
        for name in words:
            tree = tree[name]
        return np.asarray(tree)

    old_key = model.init_weights(jax.random.PRNGKey(3), (1, 1))
    again = model.init_weights(jax.random.PRNGKey(3), (1, 1))
    other = model.init_weights(jax.random.key(4), (1, 1))  # new-style keys too
    np.testing.assert_array_equal(table(old_key), table(again))  # the key decides
    assert not np.array_equal(table(old_key), table(other))
    kept = model.init_weights(jax.random.key(4), (1, 1), params={"encoder": old_key["encoder"]})
    np.testing.assert_array_equal(table(kept), table(old_key))  # given params kept
    np.testing.assert_array_equal(table(kept, "decoder"), table(other, "decoder"))  # rest drawn
    with pytest.raises(ValueError, match="leave dtype out"):
        FlaxBertModel(BertConfig(**TINY), dtype=jnp.bfloat16)


REF_PYTHON = Path(__file__).parents[2] / ".venv-ref-flax" / "bin" / "python"
REF_BUILT = {  # transformers 4.46 builds and saves these; ours loads them
    "bert2gpt2": (dict(model_type="bert", **WIDE), dict(model_type="gpt2", **GPT2_TINY)),
    "bert2bert": (dict(model_type="bert", **TINY), dict(model_type="bert", **TINY)),
    "bert2bart": (dict(model_type="bert", **TINY), dict(model_type="bart", **BART_TINY)),
}


@pytest.mark.skipif(not REF_PYTHON.exists(), reason="transformers 4.46's Flax environment absent")
def test_attentions_and_hidden_states_equal_transformers_446_flax(tmp_path):
    inputs = dict(input_ids=SOURCE.tolist(), attention_mask=MASK.tolist())
    inputs["decoder_input_ids"] = TARGET.tolist()
    jobs = [
        {
            "build": {"encoder": e, "decoder": d, "tokens": TOKENS},
            "folder": str(tmp_path / name),
            "inputs": inputs,
            "layers": True,
        }
        for name, (e, d) in REF_BUILT.items()
    ]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    script = Path(__file__).with_name("ref_flax.py")
    out = tmp_path / "out.npz"
    command = [str(REF_PYTHON), str(script), str(tmp_path / "jobs.json"), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(out)
    fields = ("encoder_attentions", "decoder_attentions", "cross_attentions")
    fields += ("encoder_hidden_states", "decoder_hidden_states")
    for i, name in enumerate(REF_BUILT):
        model = FlaxEncoderDecoderModel.from_pretrained(tmp_path / name)  # 4.46's msgpack
        got = model(SOURCE, MASK, TARGET, output_attentions=True, output_hidden_states=True)
        for field in fields:
            keys = [k for k in theirs.files if k.startswith(f"{field}_{i}_")]
            want = [theirs[k] for k in sorted(keys, key=lambda k: int(k.rsplit("_", 1)[1]))]
            assert len(got[field]) == len(want) > 0, (name, field)
            for a, b in zip(got[field], want, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4, err_msg=f"{name} {field}")


def test_loading_saving_and_generate_keywords(tmp_path):
    model = composed("bert")
    model.save_pretrained(tmp_path, push_to_hub=False, max_shard_size="10GB")
    assert not (tmp_path / "flax_model.msgpack").exists()
    model.save_pretrained(tmp_path, safe_serialization=False)  # 4.x's default file too
    assert (tmp_path / "flax_model.msgpack").exists() and (tmp_path / "model.safetensors").exists()
    options = dict(from_pt=True, dtype=jnp.float32, _do_init=True, ignore_mismatched_sizes=False)
    loaded = FlaxEncoderDecoderModel.from_pretrained(tmp_path, **options)
    a = model.generate(SOURCE, max_length=6, trace=False, logits_processor=None).sequences
    np.testing.assert_array_equal(loaded.generate(SOURCE, max_length=6).sequences, a)
    types = np.zeros_like(SOURCE)  # BERT's token types reach the encoder
    np.testing.assert_array_equal(
        model.generate(SOURCE, max_length=6, token_type_ids=types).sequences, a
    )
    with pytest.raises(ValueError, match="upload the saved folder yourself"):
        model.save_pretrained(tmp_path, push_to_hub=True)
    with pytest.raises(ValueError, match="GenerationConfig fields"):
        model.generate(SOURCE, logits_processor=[lambda ids, scores, cur: scores])
