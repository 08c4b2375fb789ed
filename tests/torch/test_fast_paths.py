"""The decoding fast paths give what the plain paths give: fused Q/K/V, finished rows dropped from
the batch, last-position logits; reduced-precision decoders run and stay close to fp32; training
after generation updates the real parameters."""

import pytest
import torch
import transformers as hf
from tiny_configs import BART_TINY, IDS, TINY, randomize_, tiny_bert2bert

from warmstart import EncoderDecoderModel
from warmstart.torch import generation
from warmstart.torch.decoding import _DecodeState
from warmstart.torch.speed.fused import FusedDecoderCache
from warmstart.torch.speed.quantize import WeightOnlyLinear, native_gemv

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_bert2bert(tmp_path, seed: int = 0):
    """A tiny transformers bert2bert whose rows reach eos at different steps, and ours."""
    torch.manual_seed(seed)
    return tiny_bert2bert(tmp_path / "model", eos_bias=0.3, randomized=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return _tiny_bert2bert(tmp_path_factory.mktemp("fast"))


def _source(B=6, S=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 99, (B, S), generator=g)
    mask = torch.ones_like(x)
    for row in range(1, B):
        mask[row, S - row :] = 0
    return x.masked_fill(mask == 0, 0), mask


def _plain_greedy(model, x, mask, steps: int) -> torch.Tensor:
    """Greedy decoding without cache, fusion or row dropping: the whole prefix every step."""
    out = torch.full((x.shape[0], 1), IDS["decoder_start_token_id"])
    done = torch.zeros(x.shape[0], dtype=torch.bool)
    for _ in range(steps):
        logits = model(input_ids=x, attention_mask=mask, decoder_input_ids=out).logits
        token = logits[:, -1].argmax(-1).masked_fill(done, IDS["pad_token_id"])
        done |= token == IDS["eos_token_id"]
        out = torch.cat([out, token[:, None]], dim=1)
        if done.all():
            break
    return out


def test_rows_finish_at_different_steps(pair):
    """The fixture is useful: some rows end early, others run on (so rows really get dropped)."""
    _, ours = pair
    x, mask = _source()
    out = ours.generate(x, attention_mask=mask, max_new_tokens=12)
    ended = (out == IDS["eos_token_id"]).any(dim=1)
    assert ended.any() and not ended.all()


def test_fast_greedy_equals_plain_and_transformers(pair):
    theirs, ours = pair
    x, mask = _source()
    fast = ours.generate(x, attention_mask=mask, max_new_tokens=12)
    with torch.no_grad():
        plain = _plain_greedy(ours, x, mask, 12)
    assert torch.equal(fast, plain[:, : fast.shape[1]])
    assert torch.equal(fast, theirs.generate(x, attention_mask=mask, max_new_tokens=12, **IDS))


def _run_search(model, x, mask, select, **options):
    state = _DecodeState(
        model.decoder.new_cache(x.shape[0], 32), model.encode(x, mask)[0], mask, False
    )
    start = generation.start_ids_for(model.generation_config, x.shape[0])
    return generation.generate(
        model._step, _DecodeState.reorder, state, start, model.generation_config,
        select=select, **options,
    ).sequences  # fmt: skip


@pytest.mark.parametrize(
    "options", [dict(), dict(no_repeat_ngram_size=2, repetition_penalty=1.4, min_new_tokens=3)]
)
def test_dropping_finished_rows_changes_nothing(pair, options):
    _, ours = pair
    x, mask = _source()
    seen = []
    with torch.no_grad():
        dropped = _run_search(ours, x, mask, _DecodeState.select, max_new_tokens=12, **options)
        kept = _run_search(ours, x, mask, None, max_new_tokens=12, **options)
        ours.generate(x, attention_mask=mask, max_new_tokens=12, streamer=seen.append, **options)
    assert torch.equal(dropped, kept)
    assert torch.equal(torch.stack(seen[:-1], dim=1), dropped[:, 1:])  # streamer sees every row


def test_dropping_rows_shrinks_the_cache(pair):
    _, ours = pair
    x, mask = _source()
    sizes = []

    def step(tokens, state):
        sizes.append(state.cache.kv.shape[2])
        return ours._step(tokens, state)

    state = _DecodeState(
        ours.decoder.new_cache(x.shape[0], 32), ours.encode(x, mask)[0], mask, False
    )
    start = generation.start_ids_for(ours.generation_config, x.shape[0])
    with torch.no_grad():
        generation.generate(
            step, _DecodeState.reorder, state, start, ours.generation_config,
            select=_DecodeState.select, max_new_tokens=12,
        )  # fmt: skip
    assert sizes[0] == x.shape[0] and min(sizes) < x.shape[0]
    assert sizes == sorted(sizes, reverse=True)


def test_fused_cached_step_equals_plain_logits(pair):
    """A cached step at inference (fused Q/K/V, one cache write) gives the logits of an uncached,
    unfused forward over the whole prefix."""
    _, ours = pair
    x, mask = _source()
    y = torch.randint(4, 99, (x.shape[0], 6))
    enc = ours.encode(x, mask)[0]
    with torch.no_grad():
        full = ours.decoder(y, encoder_hidden_states=enc, encoder_attention_mask=mask).logits
        cache = FusedDecoderCache.of(ours.decoder.new_cache(x.shape[0], 8))
        steps = [
            ours.decoder(
                y[:, t : t + 1], encoder_hidden_states=enc, encoder_attention_mask=mask, cache=cache
            ).logits
            for t in range(y.shape[1])
        ]
    assert cache.fused[0] is not None  # the fused path ran
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_fused_path_in_bert2bart(tmp_path):
    torch.manual_seed(0)
    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BartConfig(**BART_TINY)
    )
    for key, value in IDS.items():
        setattr(config, key, value)
    theirs = randomize_(hf.EncoderDecoderModel(config).eval())
    theirs.save_pretrained(tmp_path / "bart")
    ours = EncoderDecoderModel.from_pretrained(tmp_path / "bart")
    x, mask = _source()
    kw = dict(max_new_tokens=8, num_beams=3)
    assert torch.equal(
        ours.generate(x, attention_mask=mask, **kw),
        theirs.generate(x, attention_mask=mask, **IDS, **kw),
    )


def test_last_only_logits_are_the_last_position(pair):
    _, ours = pair
    x, mask = _source()
    y = torch.randint(4, 99, (x.shape[0], 5))
    enc = ours.encode(x, mask)[0]
    with torch.no_grad():
        full = ours.decoder(y, encoder_hidden_states=enc, encoder_attention_mask=mask).logits
        last = ours.decoder(
            y, encoder_hidden_states=enc, encoder_attention_mask=mask, last_only=True
        ).logits
    torch.testing.assert_close(last, full[:, -1:])


def test_training_after_generate_updates_the_parameters(tmp_path):
    _, ours = _tiny_bert2bert(tmp_path)
    _, fresh = _tiny_bert2bert(tmp_path / "again")
    x, mask = _source()
    before = ours.generate(x, attention_mask=mask, max_new_tokens=8)
    query = ours.decoder.bert.encoder.layer[0].attention.self.query.weight
    old = query.detach().clone()
    ours.train()
    opt = torch.optim.SGD(ours.parameters(), lr=1.0)
    labels = torch.randint(4, 99, (x.shape[0], 6))
    ours(input_ids=x, attention_mask=mask, labels=labels).loss.backward()
    opt.step()
    ours.eval()
    assert not torch.equal(query, old)  # the HF-named parameter itself learned
    fresh.load_state_dict(ours.state_dict())
    after = ours.generate(x, attention_mask=mask, max_new_tokens=8)
    assert torch.equal(after, fresh.generate(x, attention_mask=mask, max_new_tokens=8))
    assert not torch.equal(after, before)  # the decode saw the new weights


@pytest.mark.parametrize("kind", ["int8", "bf16"])
def test_quantized_decoder_is_close_to_fp32(pair, kind, tmp_path):
    theirs, ours = pair
    theirs.save_pretrained(tmp_path / "m")
    quant = EncoderDecoderModel.from_pretrained(tmp_path / "m", quantize=kind)
    assert all(
        not isinstance(m, torch.nn.Linear) for m in quant.decoder.modules()
    )  # every decoder matmul, LM head included
    x, mask = _source()
    y = torch.randint(4, 99, (x.shape[0], 6))
    with torch.no_grad():
        a = ours(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
        b = quant(input_ids=x, attention_mask=mask, decoder_input_ids=y).logits
    assert b.dtype == torch.float32
    assert (b - a).abs().max() < 0.05 * a.abs().max()
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9
    fast = quant.generate(x, attention_mask=mask, max_new_tokens=10)
    slow = ours.generate(x, attention_mask=mask, max_new_tokens=10)
    assert fast.shape[0] == slow.shape[0]
    assert (fast[:, :3] == slow[:, :3]).float().mean() > 0.9
    beams = quant.generate(x, attention_mask=mask, max_new_tokens=6, num_beams=3)
    assert beams.shape[0] == x.shape[0]


def test_quantized_model_refuses_training_and_saving(pair, tmp_path):
    theirs, _ = pair
    theirs.save_pretrained(tmp_path / "m")
    quant = EncoderDecoderModel.from_pretrained(tmp_path / "m").quantize("int8")
    with pytest.raises(ValueError, match="quantised"):
        quant.train()
    with pytest.raises(ValueError, match="quantised"):
        quant.save_pretrained(tmp_path / "out")
    with pytest.raises(ValueError, match="quantised"):
        quant.quantize("bf16")
    with pytest.raises(ValueError, match="Unknown quantisation"):
        EncoderDecoderModel.from_pretrained(tmp_path / "m").quantize("int4")


def test_bf16_model_generates_like_fp32_mostly(pair, tmp_path):
    theirs, ours = pair
    theirs.save_pretrained(tmp_path / "m")
    half = EncoderDecoderModel.from_pretrained(tmp_path / "m", dtype=torch.bfloat16)
    x, mask = _source()
    fast = half.generate(x, attention_mask=mask, max_new_tokens=10)
    slow = ours.generate(x, attention_mask=mask, max_new_tokens=10)
    assert (fast[:, :3] == slow[:, :3]).float().mean() > 0.8
    assert torch.backends.mkldnn.is_available() == torch._C._get_mkldnn_enabled()


def test_weight_only_linear_matches_linear():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(3, 5, 64)
    for kind, tol in (("bf16", 0.02), ("int8", 0.03)):
        quant = WeightOnlyLinear.from_linear(linear, kind)
        torch.testing.assert_close(quant(x), linear(x), atol=tol, rtol=tol)
        torch.testing.assert_close(quant(x[:1, :1]), linear(x[:1, :1]), atol=tol, rtol=tol)
    both = WeightOnlyLinear.concat([WeightOnlyLinear.from_linear(linear, "int8")] * 2)
    single = WeightOnlyLinear.from_linear(linear, "int8")(x)
    torch.testing.assert_close(both(x), torch.cat([single, single], dim=-1))


def test_native_gemv_restores_the_switch():
    before = torch._C._get_mkldnn_enabled()
    with pytest.raises(RuntimeError), native_gemv():
        raise RuntimeError
    assert torch._C._get_mkldnn_enabled() == before


def test_quantize_reaches_every_decoder_projection_of_gpt2():
    from tiny_configs import GPT2_TINY

    from warmstart import BertConfig, EncoderDecoderConfig, GPT2Config

    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), GPT2Config(**GPT2_TINY)
    )
    model = EncoderDecoderModel(config).quantize("int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in model.decoder.modules())
