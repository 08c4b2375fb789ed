"""EncoderDecoderModel against transformers' EncoderDecoderModel, live, on tiny and real weights."""

import json
import os

import pytest
import torch
import transformers as hf
from tiny_configs import TINY, padded_batch

from warmstart import BertConfig, EncoderDecoderConfig, EncoderDecoderModel, shift_tokens_right
from warmstart.torch import weights


def _hf_tiny(tmp_path, enc_width: int = 32):
    enc = hf.BertConfig(**{**TINY, "hidden_size": enc_width})
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(enc, hf.BertConfig(**TINY))
    config.decoder_start_token_id, config.pad_token_id = 2, 0
    model = hf.EncoderDecoderModel(config).eval()
    model.save_pretrained(tmp_path / "hf")
    return model, tmp_path / "hf"


def _compare(theirs, ours, vocab: int, atol: float = 1e-5):
    x, mask, y = padded_batch(vocab)
    with torch.no_grad():
        a = theirs(input_ids=x, attention_mask=mask, labels=y)
        b = ours(input_ids=x, attention_mask=mask, labels=y)
    torch.testing.assert_close(b.logits, a.logits, atol=atol, rtol=1e-4)
    torch.testing.assert_close(b.loss, a.loss, atol=atol, rtol=1e-4)
    return (b.logits - a.logits).abs().max().item(), a.loss.item(), b.loss.item()


@pytest.mark.parametrize("enc_width", [32, 48])
def test_transformers_checkpoint_loads_with_equal_logits_and_loss(tmp_path, enc_width):
    theirs, folder = _hf_tiny(tmp_path, enc_width)
    ours = EncoderDecoderModel.from_pretrained(folder)
    assert not ours.training
    assert hasattr(ours, "enc_to_dec_proj") == (enc_width != 32)
    _compare(theirs, ours, 99)


def test_our_checkpoint_loads_in_transformers(tmp_path):
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), decoder_start_token_id=2, pad_token_id=0
    )
    ours = EncoderDecoderModel(config).eval()
    ours.save_pretrained(tmp_path / "ours")
    theirs, info = hf.EncoderDecoderModel.from_pretrained(
        tmp_path / "ours", output_loading_info=True
    )
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensors
    _compare(theirs.eval(), ours, 99)
    again = EncoderDecoderModel.from_pretrained(tmp_path / "ours")
    for (n, p), (_, q) in zip(ours.state_dict().items(), again.state_dict().items()):
        assert torch.equal(p, q), n


def test_parameter_count_of_default_bert2bert_equals_transformers():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(), BertConfig())
    with torch.device("meta"):
        ours = EncoderDecoderModel(config)
        theirs = hf.EncoderDecoderModel(
            hf.EncoderDecoderConfig.from_encoder_decoder_configs(hf.BertConfig(), hf.BertConfig())
        )
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters()) == 247_363_386


def test_model_utilities_of_transformers(tmp_path):
    theirs, folder = _hf_tiny(tmp_path)
    ours = EncoderDecoderModel.from_pretrained(folder)
    for exclude in (False, True):
        assert ours.num_parameters(exclude_embeddings=exclude) == theirs.num_parameters(
            exclude_embeddings=exclude
        )
    assert ours.can_generate() and not ours.is_gradient_checkpointing
    ours.gradient_checkpointing_enable()
    assert ours.is_gradient_checkpointing


def test_shift_tokens_right_by_keyword_as_in_transformers():
    from transformers.models.encoder_decoder.modeling_encoder_decoder import (
        shift_tokens_right as theirs,
    )

    labels = torch.tensor([[5, 6, -100], [8, -100, -100]])
    kw = dict(input_ids=labels, pad_token_id=0, decoder_start_token_id=1)
    assert torch.equal(shift_tokens_right(**kw), theirs(**kw))


def test_shift_tokens_right():
    labels = torch.tensor([[5, 6, 7], [8, -100, -100]])
    assert shift_tokens_right(labels, 0, 1).tolist() == [[1, 5, 6], [1, 8, 0]]
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        shift_tokens_right(labels, 0, None)
    with pytest.raises(ValueError, match="pad_token_id"):
        shift_tokens_right(labels, None, 1)


def test_unset_token_ids_give_clear_errors():
    model = EncoderDecoderModel(
        EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**TINY), BertConfig(**TINY))
    )
    x, y = torch.ones(1, 4, dtype=torch.long), torch.ones(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="decoder_start_token_id attribute"):
        model(input_ids=x, labels=y)
    model.config.decoder_start_token_id = 2
    with pytest.raises(ValueError, match="pad_token_id attribute"):
        model(input_ids=x, labels=y)


def test_decoder_without_cross_attention_is_refused():
    with pytest.raises(ValueError, match="no cross-attention"):
        EncoderDecoderModel(EncoderDecoderConfig(decoder=BertConfig(**TINY, is_decoder=True)))


def test_labels_passed_as_decoder_inputs_warn():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), decoder_start_token_id=2, pad_token_id=0
    )
    model = EncoderDecoderModel(config)
    y = torch.randint(3, 99, (1, 4))
    with pytest.warns(UserWarning, match="learns to copy"):
        model(input_ids=y, decoder_input_ids=y, labels=y)


def test_gradient_checkpointing_gives_the_same_gradients():
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        BertConfig(**TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
        decoder_start_token_id=2,
        pad_token_id=0,
    )
    model = EncoderDecoderModel(config).train()
    x, mask, y = padded_batch(99)
    model(input_ids=x, attention_mask=mask, labels=y).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert len(plain) > 40
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(input_ids=x, attention_mask=mask, labels=y).loss.backward()
    for n, p in model.named_parameters():
        if n in plain:
            torch.testing.assert_close(p.grad, plain[n])


# ----------------------------------------------------------------- real weights
@pytest.fixture(scope="module")
def minilm_pair(minilm_dir, tmp_path_factory):
    """transformers' warm-started MiniLM bert2bert, saved; cross-attention seeded."""
    torch.manual_seed(0)
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(
        str(minilm_dir), str(minilm_dir)
    )
    theirs.config.decoder_start_token_id, theirs.config.pad_token_id = 101, 0
    folder = tmp_path_factory.mktemp("minilm") / "bert2bert"
    theirs.save_pretrained(folder)
    return theirs.eval(), folder


def test_minilm_parity_both_ways(minilm_pair, tmp_path):
    theirs, folder = minilm_pair
    ours = EncoderDecoderModel.from_pretrained(folder)
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    diff, loss_theirs, loss_ours = _compare(theirs, ours, 30522, atol=1e-4)
    print(f"MiniLM bert2bert: loss {loss_ours:.6f} vs {loss_theirs:.6f}, max logit diff {diff:.2e}")
    ours.save_pretrained(tmp_path / "back")
    back = hf.EncoderDecoderModel.from_pretrained(tmp_path / "back").eval()
    _compare(back, ours, 30522, atol=1e-4)


def test_warm_start_reports_new_weights_like_transformers(minilm_dir):
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(str(minilm_dir), str(minilm_dir))
    _, info = hf.BertLMHeadModel.from_pretrained(
        minilm_dir, is_decoder=True, add_cross_attention=True, output_loading_info=True
    )
    theirs_new = {"decoder." + k for k in info["missing_keys"]}
    # transformers also lists the tied aliases of the word embeddings and the head's bias
    theirs_new -= {"decoder.cls.predictions.decoder.weight", "decoder.cls.predictions.decoder.bias"}
    assert set(ours.newly_initialized) == theirs_new
    assert any("crossattention" in k for k in theirs_new)
    reference = hf.BertModel.from_pretrained(minilm_dir).state_dict()
    ours_state = ours.encoder.state_dict()
    for key, value in reference.items():
        if key in ours_state:
            assert torch.equal(ours_state[key], value), key
    assert torch.equal(
        ours.decoder.bert.encoder.layer[3].output.dense.weight,
        reference["encoder.layer.3.output.dense.weight"],
    )


def test_warm_start_routes_kwargs(minilm_dir):
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(
        str(minilm_dir),
        str(minilm_dir),
        decoder_start_token_id=101,  # a composite field, not swallowed by the decoder_ prefix
        pad_token_id=0,
        encoder_hidden_dropout_prob=0.3,
        decoder_num_hidden_layers=2,
    )
    assert ours.config.decoder_start_token_id == 101 and ours.config.pad_token_id == 0
    assert ours.config.encoder.hidden_dropout_prob == 0.3
    assert len(ours.decoder.bert.encoder.layer) == 2
    assert ours.config.decoder is ours.decoder.config  # one shared config object
    encoder = ours.encoder
    again = EncoderDecoderModel.from_encoder_decoder_pretrained(
        None, str(minilm_dir), encoder_model=encoder
    )
    assert again.encoder is encoder


# ----------------------------------------------------------------- bad input
def _tiny_saved(tmp_path):
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), decoder_start_token_id=2, pad_token_id=0
    )
    folder = tmp_path / "model"
    EncoderDecoderModel(config).save_pretrained(folder)
    return folder


def test_crash_during_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    folder = _tiny_saved(tmp_path)
    (folder / "vocab.txt").write_text("[PAD]\n")
    before = {f.name: f.read_bytes() for f in folder.iterdir()}
    model = EncoderDecoderModel.from_pretrained(folder)
    with torch.no_grad():
        model.encoder.pooler.dense.weight.add_(1.0)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(weights, "save_weights", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(folder)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary left behind
    monkeypatch.undo()
    model.save_pretrained(folder)
    assert (folder / "vocab.txt").read_text() == "[PAD]\n"  # other files are kept


def test_truncated_weights_give_a_clear_error(tmp_path):
    folder = _tiny_saved(tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        EncoderDecoderModel.from_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="truncated or corrupted"):
        EncoderDecoderModel.from_pretrained(folder)


def test_folder_without_weights_or_config(tmp_path):
    folder = _tiny_saved(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="No weights.*model.safetensors"):
        EncoderDecoderModel.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="No config.json"):
        EncoderDecoderModel.from_pretrained(folder)


def test_unknown_model_type_in_checkpoint(tmp_path):
    folder = _tiny_saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["decoder"]["model_type"] = "llama"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Unknown model_type 'llama'"):
        EncoderDecoderModel.from_pretrained(folder)


def test_single_model_checkpoint_points_to_warm_start(minilm_dir):
    with pytest.raises(ValueError, match="from_encoder_decoder_pretrained"):
        EncoderDecoderModel.from_pretrained(minilm_dir)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    folder = _tiny_saved(tmp_path)
    (folder / "model.safetensors").unlink()
    torch.save({"encoder.x": _Evil()}, folder / "pytorch_model.bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="could run code"):
        EncoderDecoderModel.from_pretrained(folder)
    assert not (tmp_path / "pwned").exists()


def test_legacy_bin_and_sharded_checkpoints_load(tmp_path):
    theirs, folder = _hf_tiny(tmp_path)
    theirs.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    _compare(theirs, EncoderDecoderModel.from_pretrained(tmp_path / "sharded"), 99)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((folder / "config.json").read_text())
    torch.save(theirs.state_dict(), bin_dir / "pytorch_model.bin")
    _compare(theirs, EncoderDecoderModel.from_pretrained(bin_dir), 99)


def test_missing_tensor_is_an_error_not_silent_garbage(tmp_path):
    folder = _tiny_saved(tmp_path)
    state = weights.load_weights(folder)
    del state["decoder.bert.encoder.layer.1.crossattention.self.key.weight"]
    weights.save_weights(state, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"lacks 1 tensors.*crossattention\.self\.key\.weight"):
        EncoderDecoderModel.from_pretrained(folder)


def test_input_longer_than_max_positions(tmp_path):
    model = EncoderDecoderModel.from_pretrained(_tiny_saved(tmp_path))
    x = torch.ones(1, TINY["max_position_embeddings"] + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=x, labels=torch.ones(1, 3, dtype=torch.long))


def test_start_token_equal_to_pad_stays_visible():
    """GPT-2 style ids (start == pad): the loss sees the same context that generation does."""
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY), decoder_start_token_id=0, pad_token_id=0
    )
    model = EncoderDecoderModel(config).eval()
    x, mask, y = padded_batch(99)
    with torch.no_grad():
        trained = model(input_ids=x, attention_mask=mask, labels=y).logits
        decoder_input_ids = shift_tokens_right(y, 0, 0)
        unmasked = model(input_ids=x, attention_mask=mask, decoder_input_ids=decoder_input_ids)
    keep = y != -100
    torch.testing.assert_close(trained[keep], unmasked.logits[keep])


def test_accessors_return_the_halves():
    model = EncoderDecoderModel(
        EncoderDecoderConfig.from_encoder_decoder_configs(BertConfig(**TINY), BertConfig(**TINY))
    )
    assert model.get_encoder() is model.encoder and model.get_decoder() is model.decoder
    assert model.get_input_embeddings() is model.encoder.embeddings.word_embeddings
    assert model.get_output_embeddings() is model.decoder.cls.predictions.decoder
    model.gradient_checkpointing_enable()
    assert model.encoder.encoder.gradient_checkpointing
    model.gradient_checkpointing_disable()
    assert not model.decoder.bert.encoder.gradient_checkpointing


# ----------------------------------------------------------------- loading options
def test_loading_options_of_transformers(tmp_path, monkeypatch):
    """transformers' from_pretrained options: looked-up repo ids, one device, the loading report,
    dtype "auto"; none of them ends up in the config."""
    from hub_cache import add_to_hf_cache

    folder = _tiny_saved(tmp_path)
    cache = tmp_path / "elsewhere"
    add_to_hf_cache(cache, "someone/tiny", folder, commit="b" * 40)
    model, info = EncoderDecoderModel.from_pretrained(
        "someone/tiny",
        cache_dir=cache,
        revision="b" * 40,
        local_files_only=True,
        device_map="cpu",
        token=None,
        trust_remote_code=False,
        attn_implementation="sdpa",
        output_loading_info=True,
    )
    _, expected = hf.EncoderDecoderModel.from_pretrained(folder, output_loading_info=True)
    assert info == expected and model.device.type == "cpu"
    model.save_pretrained(tmp_path / "again")
    saved = json.loads((tmp_path / "again" / "config.json").read_text())
    assert not {"revision", "cache_dir", "device_map", "token"} & set(saved)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the option alone keeps the hub out
    with pytest.raises(FileNotFoundError, match="local_files_only"):
        EncoderDecoderModel.from_pretrained("someone/other", cache_dir=cache, local_files_only=True)


def test_unknown_keyword_to_from_pretrained_is_refused(tmp_path):
    folder = _tiny_saved(tmp_path)
    with pytest.raises(TypeError, match="decoder_star_token_id"):
        EncoderDecoderModel.from_pretrained(folder, decoder_star_token_id=5)
    with pytest.raises(ValueError, match="device_map"):
        EncoderDecoderModel.from_pretrained(folder, device_map={"encoder": 0})
    assert (
        EncoderDecoderModel.from_pretrained(
            folder, decoder_start_token_id=5
        ).config.decoder_start_token_id
        == 5
    )


def test_dtype_auto_keeps_the_stored_dtype(tmp_path):
    folder = _tiny_saved(tmp_path)
    EncoderDecoderModel.from_pretrained(folder, dtype=torch.bfloat16).save_pretrained(
        tmp_path / "b"
    )
    theirs = hf.EncoderDecoderModel.from_pretrained(tmp_path / "b", dtype="auto")
    assert EncoderDecoderModel.from_pretrained(tmp_path / "b", dtype="auto").dtype == theirs.dtype
    assert EncoderDecoderModel.from_pretrained(tmp_path / "b").dtype == torch.float32


def test_decoder_config_without_decoder_flags_is_made_a_decoder(minilm_dir):
    """As in transformers: a decoder_config= read for the checkpoint alone gets cross-attention."""
    config = BertConfig.from_pretrained(minilm_dir, num_hidden_layers=2)
    ours = EncoderDecoderModel.from_encoder_decoder_pretrained(
        minilm_dir, minilm_dir, decoder_config=config
    )
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(
        minilm_dir,
        minilm_dir,
        decoder_config=hf.BertConfig.from_pretrained(minilm_dir, num_hidden_layers=2),
    )
    assert ours.config.decoder.is_decoder and ours.config.decoder.add_cross_attention
    assert ours.num_parameters() == theirs.num_parameters()


def test_bad_ids_give_clear_errors(tmp_path):
    model = EncoderDecoderModel.from_pretrained(_tiny_saved(tmp_path))
    ids = torch.randint(3, 99, (2, 5))
    with pytest.raises(ValueError, match=r"ids\[None\]"):
        model(input_ids=ids[0], labels=ids)
    with pytest.raises(ValueError, match=r"ids\[None\]"):
        model.generate(ids[0])
    with pytest.raises(TypeError, match="return_tensors"):
        model.generate(ids.tolist())
    with pytest.raises(TypeError, match="integer"):
        model(input_ids=ids.float(), labels=ids)
    with pytest.raises(ValueError, match="inputs_embeds"):
        model(labels=ids)
    with pytest.raises(ValueError, match="differ in shape"):
        model(input_ids=ids, labels=ids, decoder_input_ids=ids[:, :3])
    with pytest.raises(ValueError, match="empty"):
        model(input_ids=ids[:0], labels=ids[:0])
    with pytest.raises(ValueError, match="once"):
        model.generate(ids, input_ids=ids)


def test_generate_arguments_by_position_as_in_transformers(tmp_path):
    """transformers' generate(inputs, generation_config): the second positional argument is the
    config, and the cache is ``cache`` (``past_key_values`` still read)."""
    from warmstart import GenerationConfig

    model = EncoderDecoderModel.from_pretrained(_tiny_saved(tmp_path))
    ids = torch.randint(3, 99, (2, 5))
    config = GenerationConfig(max_new_tokens=3, decoder_start_token_id=2, pad_token_id=0)
    assert model.generate(ids, config).shape == (2, 4)
    assert torch.equal(
        model.generate(inputs=ids, generation_config=config), model.generate(ids, config)
    )
    with torch.no_grad():
        start = torch.full((2, 1), 2)
        out = model(input_ids=ids, decoder_input_ids=start, use_cache=True)
        assert out.cache is out.past_key_values is out["cache"] and out.cache.length == 1
        nxt = model(input_ids=ids, decoder_input_ids=start, past_key_values=out.cache)
        assert nxt.cache.length == 2


def test_bad_token_ids_and_labels_give_clear_errors(tmp_path):
    model = EncoderDecoderModel.from_pretrained(_tiny_saved(tmp_path))
    ids = torch.randint(3, 99, (2, 5))
    model.config.decoder_start_token_id = "2"
    with pytest.raises(TypeError, match="decoder_start_token_id must be one token id"):
        model(input_ids=ids, labels=ids)
    model.config.decoder_start_token_id = 2
    for bad in (150, -5):
        labels = ids.clone()
        labels[1, -1] = bad
        with pytest.raises(IndexError, match=f"Target {bad} is out of bounds"):
            model(input_ids=ids, labels=labels)


def test_gradient_checkpointing_drops_the_cache_in_training(tmp_path, caplog):
    """As transformers does: a cache would be written again when checkpointing recomputes."""
    model = EncoderDecoderModel.from_pretrained(_tiny_saved(tmp_path)).train()
    model.gradient_checkpointing_enable()
    ids = torch.randint(3, 99, (2, 5))
    with caplog.at_level("WARNING", logger="warmstart"):
        out = model(input_ids=ids, labels=ids, use_cache=True)
    out.loss.backward()
    assert out.cache is None and "gradient checkpointing" in caplog.text
