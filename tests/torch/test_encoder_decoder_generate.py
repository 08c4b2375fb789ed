"""EncoderDecoderModel.generate: token-equal to transformers' generate, and its invariants."""

import pytest
import torch
import transformers as hf
from hub_cache import add_to_hf_cache
from tiny_configs import IDS, TINY, tiny_bert2bert

from warmstart import AutoTokenizer, EncoderDecoderModel
from warmstart.generation import GenerationConfig
from warmstart.torch.decoding import PACK_MIN_STEPS
from warmstart.torch.speed import products


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    """A tiny transformers bert2bert whose eos is likely enough that rows finish at different steps."""
    torch.manual_seed(0)
    return tiny_bert2bert(tmp_path_factory.mktemp("tiny") / "model")


def _source(B=4, S=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(4, 99, (B, S), generator=g)
    mask = torch.ones_like(x)
    for row in range(1, B):
        mask[row, S - 2 * row :] = 0
    return x.masked_fill(mask == 0, 0), mask


CASES = [
    dict(),
    dict(max_new_tokens=12, min_new_tokens=5),
    dict(num_beams=4),
    dict(num_beams=4, early_stopping=True, length_penalty=2.0),
    dict(num_beams=3, early_stopping="never", length_penalty=0.5, num_return_sequences=2),
    dict(num_beams=3, no_repeat_ngram_size=2, repetition_penalty=1.5),
    dict(no_repeat_ngram_size=2, repetition_penalty=1.3, max_length=15),
]


@pytest.mark.parametrize("options", CASES, ids=[str(c) for c in CASES])
def test_tokens_equal_transformers_on_tiny_model(tiny_pair, options):
    theirs, ours = tiny_pair
    x, mask = _source()
    kw = dict(return_dict_in_generate=True, output_scores=True, **options)
    a = theirs.generate(x, attention_mask=mask, **IDS, **kw)
    b = ours.generate(x, attention_mask=mask, **kw)
    assert torch.equal(b.sequences, a.sequences)
    if options.get("num_beams", 1) > 1:
        torch.testing.assert_close(b.sequences_scores, a.sequences_scores, atol=1e-4, rtol=1e-4)


def test_rows_finish_at_different_steps(tiny_pair):
    """Guards the fixture: without early finishes the parity tests above could not catch padding."""
    _, ours = tiny_pair
    x, mask = _source()
    out = ours.generate(x, attention_mask=mask)
    finished = (out == 3).any(1)
    assert finished.any() and len({int((row != 0).sum()) for row in out}) > 1


def test_batched_beams_decode_with_packed_weights(tiny_pair, packs):
    """4 inputs x 4 beams take oneDNN's packed weights in decodes of PACK_MIN_STEPS tokens or more
    (the parity tests above run both); the packing ends with the decode."""
    _, ours = tiny_pair
    x, mask = _source()
    ours.generate(x, attention_mask=mask, num_beams=4, max_new_tokens=PACK_MIN_STEPS - 1)
    assert packs == []  # too short a decode to pay for the packing
    ours.generate(x, attention_mask=mask, num_beams=4, max_new_tokens=PACK_MIN_STEPS)
    packed = [id(w) for w in packs]
    per_layer = 6  # fused QKV, output, cross query, output, intermediate, output
    assert 0 < len(packed) <= per_layer * TINY["num_hidden_layers"] + 2  # + LM head transform, head
    assert len(set(packed)) == len(packed)  # once per decode, not per step
    once = {  # the cross-attention keys/values are projected once per decode: left as they are
        id(p)
        for n, p in ours.decoder.named_parameters()
        if n.endswith(("key.weight", "value.weight"))
    }
    assert not once & set(packed)
    assert products._scope.packed is None


def test_generate_under_inference_mode_gives_the_same_tokens(tiny_pair):
    _, ours = tiny_pair
    x, mask = _source()
    kw = dict(attention_mask=mask, num_beams=4, max_new_tokens=PACK_MIN_STEPS)  # packed weights
    want = ours.generate(x, **kw)
    with torch.inference_mode():
        assert torch.equal(ours.generate(x, **kw), want)


def test_cached_decoding_equals_uncached(tiny_pair):
    _, ours = tiny_pair
    x, mask = _source()
    out = ours.generate(x, attention_mask=mask, max_new_tokens=8)
    with torch.no_grad():
        full = ours(input_ids=x, attention_mask=mask, decoder_input_ids=out).logits
        enc = ours.encode(x, mask).last_hidden_state
        cache = ours.decoder.new_cache(x.shape[0], out.shape[1])
        steps = [
            ours(
                encoder_outputs=(enc,),
                attention_mask=mask,
                decoder_input_ids=out[:, t : t + 1],
                past_key_values=cache,
            ).logits
            for t in range(out.shape[1])
        ]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


def test_invariants(tiny_pair):
    _, ours = tiny_pair
    x, mask = _source()
    greedy = ours.generate(x, attention_mask=mask, max_new_tokens=10)
    assert torch.equal(
        ours.generate(x, attention_mask=mask, max_new_tokens=10, num_beams=1), greedy
    )
    top1 = ours.generate(x, attention_mask=mask, max_new_tokens=10, do_sample=True, top_k=1)
    assert torch.equal(top1, greedy)
    for row in range(x.shape[0]):
        n = int(mask[row].sum())
        alone = ours.generate(x[row : row + 1, :n], max_new_tokens=10)
        assert alone[0].tolist() == greedy[row, : alone.shape[1]].tolist()
    beams = ours.generate(x, attention_mask=mask, max_new_tokens=10, num_beams=3)
    for row in range(x.shape[0]):
        n = int(mask[row].sum())
        alone = ours.generate(x[row : row + 1, :n], max_new_tokens=10, num_beams=3)
        assert alone[0].tolist() == beams[row, : alone.shape[1]].tolist()


def test_sampling_is_reproducible(tiny_pair):
    _, ours = tiny_pair
    x, mask = _source()
    kw = dict(attention_mask=mask, do_sample=True, max_new_tokens=10, num_return_sequences=2)
    a = ours.generate(x, generator=torch.Generator().manual_seed(7), **kw)
    b = ours.generate(x, generator=torch.Generator().manual_seed(7), **kw)
    c = ours.generate(x, generator=torch.Generator().manual_seed(8), **kw)
    assert a.shape[0] == 8 and torch.equal(a, b) and not torch.equal(a, c)


def test_streaming_yields_each_token(tiny_pair):
    _, ours = tiny_pair
    x, _ = _source(B=1)
    seen = []
    out = ours.generate(x, max_new_tokens=6, streamer=seen.append)
    assert seen[-1] is None
    assert torch.stack(seen[:-1], 1)[0].tolist() == out[0, 1:].tolist()


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(num_return_sequences=3, num_beams=2), "num_return_sequences"),
        (dict(do_sample=True, top_p=1.5), "top_p"),
        (dict(do_sample=True, temperature=0.0), "temperature"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(num_beams=0), "num_beams"),
    ],
)
def test_bad_options_are_refused(tiny_pair, options, message):
    _, ours = tiny_pair
    x, _ = _source(B=1)
    with pytest.raises(ValueError, match=message):
        ours.generate(x, **options)


def test_unknown_option_is_refused(tiny_pair):
    with pytest.raises(TypeError, match="num_beam"):
        tiny_pair[1].generate(torch.ones(1, 3, dtype=torch.long), num_beam=2)


def test_no_start_token_anywhere_is_refused(tmp_path):
    from warmstart import BertConfig, EncoderDecoderConfig

    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY)
    )
    model = EncoderDecoderModel(config).eval()
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        model.generate(torch.ones(1, 3, dtype=torch.long))
    model.config.decoder_start_token_id = (
        2  # set after creation: honoured (transformers ignores it)
    )
    assert model.generate(torch.ones(1, 3, dtype=torch.long), max_new_tokens=2)[0, 0] == 2


def test_generation_config_is_saved_and_loaded(tiny_pair, tmp_path):
    _, ours = tiny_pair
    ours.generation_config = GenerationConfig(num_beams=3, max_new_tokens=4, **IDS)
    try:
        ours.save_pretrained(tmp_path / "m")
    finally:
        ours.generation_config = GenerationConfig.from_model_config(ours.config)
        ours.generation_config.extra["_from_model_config"] = True
    again = EncoderDecoderModel.from_pretrained(tmp_path / "m")
    assert again.generation_config.num_beams == 3
    assert hf.GenerationConfig.from_pretrained(tmp_path / "m").num_beams == 3
    assert again.generate(torch.randint(4, 99, (1, 5))).shape[1] <= 5


def test_edits_to_the_generation_config_are_used_and_saved(tiny_pair, tmp_path):
    """Settings set on ``model.generation_config`` take effect and are saved, in a model whose
    generation config transformers wrote as derived from the model config."""
    theirs, _ = tiny_pair
    theirs.save_pretrained(tmp_path / "m")
    saved = hf.GenerationConfig.from_pretrained(tmp_path / "m")
    assert saved._from_model_config  # the case where the edits were ignored
    ours = EncoderDecoderModel.from_pretrained(tmp_path / "m")
    theirs = hf.EncoderDecoderModel.from_pretrained(tmp_path / "m").eval()
    x, mask = _source()
    for model in (ours, theirs):
        model.generation_config.max_new_tokens = 4
        model.generation_config.num_beams = 2
        model.generation_config.eos_token_id = 5
    a, b = theirs.generate(x, attention_mask=mask), ours.generate(x, attention_mask=mask)
    assert b.shape[1] == 5 and torch.equal(b, a)
    ours.save_pretrained(tmp_path / "again")
    again = hf.GenerationConfig.from_pretrained(tmp_path / "again")
    assert (again.max_new_tokens, again.num_beams, again.eos_token_id) == (4, 2, 5)
    mine = EncoderDecoderModel.from_pretrained(tmp_path / "again")
    assert torch.equal(mine.generate(x, attention_mask=mask), a)


def test_generation_config_of_a_new_model_takes_edits_and_model_config_changes():
    from warmstart import BertConfig, EncoderDecoderConfig

    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        BertConfig(**TINY), BertConfig(**TINY)
    )
    model = EncoderDecoderModel(config).eval()
    model.generation_config.decoder_start_token_id = 3
    model.generation_config.max_new_tokens = 4
    x = torch.randint(4, 99, (1, 5))
    out = model.generate(x)
    assert out.shape == (1, 5) and out[0, 0] == 3
    model.config.pad_token_id = 7  # changed on the model config after creation: taken too
    assert model._generation_config(None).pad_token_id == 7
    model.config.decoder_start_token_id = 9  # but not where the generation config was set
    assert model.generate(x)[0, 0] == 3


# ----------------------------------------------------------------- real weights
@pytest.fixture(scope="module")
def minilm_pair(minilm_dir, tmp_path_factory):
    torch.manual_seed(0)
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(
        str(minilm_dir), str(minilm_dir)
    )
    theirs.config.decoder_start_token_id, theirs.config.pad_token_id = 101, 0
    theirs.config.eos_token_id = 102
    folder = tmp_path_factory.mktemp("minilm") / "bert2bert"
    theirs.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return theirs.eval(), EncoderDecoderModel.from_pretrained(folder), folder


MINILM_CASES = [
    dict(max_new_tokens=12),
    dict(max_new_tokens=12, num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0),
    dict(max_new_tokens=10, num_beams=3, repetition_penalty=1.2, num_return_sequences=2),
    dict(max_new_tokens=8, min_new_tokens=6, num_beams=2, early_stopping=True),
]


@pytest.mark.parametrize("options", MINILM_CASES, ids=[str(c) for c in MINILM_CASES])
def test_tokens_equal_transformers_on_minilm(minilm_pair, options):
    theirs, ours, folder = minilm_pair
    tok = AutoTokenizer.from_pretrained(folder)
    batch = tok(
        ["The tower is 324 metres tall.", "Nearly 800 thousand customers were affected."],
        return_tensors="pt",
        padding=True,
    )
    kw = dict(return_dict_in_generate=True, output_scores=True, **options)
    ids = dict(decoder_start_token_id=101, pad_token_id=0, eos_token_id=102)
    a = theirs.generate(batch.input_ids, attention_mask=batch.attention_mask, **ids, **kw)
    b = ours.generate(batch.input_ids, attention_mask=batch.attention_mask, **kw)
    assert torch.equal(b.sequences, a.sequences)
    if options.get("num_beams", 1) > 1:
        torch.testing.assert_close(b.sequences_scores, a.sequences_scores, atol=1e-4, rtol=1e-4)


def test_generate_takes_the_whole_tokenizer_batch(minilm_pair):
    """``generate(**tokenizer(...))``: the BERT tokenizer's token_type_ids reach the encoder, as in
    transformers; a second segment (ids 1) changes the encoder's states, so the scores show it."""
    theirs, ours, folder = minilm_pair
    tok = AutoTokenizer.from_pretrained(folder)
    batch = tok(
        ["The tower is 324 metres tall.", "Nearly 800 thousand customers were affected."],
        ["It is in Paris.", "The power was cut."],
        return_tensors="pt",
        padding=True,
    )
    assert batch["token_type_ids"].any()
    kw = dict(max_new_tokens=6, return_dict_in_generate=True, output_scores=True)
    ids = dict(decoder_start_token_id=101, pad_token_id=0, eos_token_id=102)
    a = theirs.generate(**batch, **ids, **kw)
    b = ours.generate(**batch, **kw)
    assert torch.equal(b.sequences, a.sequences)
    torch.testing.assert_close(torch.stack(b.scores), torch.stack(a.scores), atol=1e-4, rtol=1e-4)
    without = ours.generate(batch["input_ids"], attention_mask=batch["attention_mask"], **kw)
    assert not torch.allclose(torch.stack(without.scores), torch.stack(b.scores))


def test_generate_from_inputs_embeds_equals_from_ids(tiny_pair):
    theirs, ours = tiny_pair
    x, mask = _source()
    embeds = ours.encoder.get_input_embeddings()(x)
    kw = dict(max_new_tokens=6, return_dict_in_generate=True, output_scores=True)
    a = ours.generate(x, attention_mask=mask, **kw)
    b = ours.generate(inputs_embeds=embeds, attention_mask=mask, **kw)
    c = theirs.generate(inputs_embeds=embeds, attention_mask=mask, **IDS, **kw)
    assert torch.equal(b.sequences, a.sequences) and torch.equal(b.sequences, c.sequences)
    torch.testing.assert_close(torch.stack(b.scores), torch.stack(c.scores))
    with pytest.raises(ValueError, match="inputs_embeds"):
        ours.generate(attention_mask=mask)


def test_transformers_streamers_work(minilm_pair, capsys):
    """A transformers streamer object (put/end) gets what transformers' generate gives it, so
    ``TextStreamer`` prints the same text with either library's tokenizer."""
    theirs, ours, folder = minilm_pair

    class Recorder:
        def __init__(self):
            self.calls = []

        def put(self, value):
            self.calls.append(value.tolist())

        def end(self):
            self.calls.append("end")

    x = AutoTokenizer.from_pretrained(folder)("The tower is tall.", return_tensors="pt").input_ids
    ids = dict(decoder_start_token_id=101, pad_token_id=0, eos_token_id=102)
    a, b = Recorder(), Recorder()
    theirs.generate(x, max_new_tokens=5, streamer=a, **ids)
    ours.generate(x, max_new_tokens=5, streamer=b)
    assert b.calls == a.calls and len(a.calls) == 7
    for tok, model in (
        (hf.AutoTokenizer.from_pretrained(folder), theirs),
        (AutoTokenizer.from_pretrained(folder), ours),
    ):
        kw = ids if model is theirs else {}
        model.generate(x, max_new_tokens=5, streamer=hf.TextStreamer(tok), **kw)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and printed[0] == printed[1] and printed[0].strip()


def test_seed_inference_example(minilm_pair, hf_cache):
    """The seed's inference example, with a warm-started MiniLM standing in for the fine-tuned one."""
    add_to_hf_cache(hf_cache, "patrickvonplaten/bert2bert_cnn_daily_mail", minilm_pair[2])
    from warmstart import AutoTokenizer, EncoderDecoderModel

    model = EncoderDecoderModel.from_pretrained("patrickvonplaten/bert2bert_cnn_daily_mail")
    tokenizer = AutoTokenizer.from_pretrained("patrickvonplaten/bert2bert_cnn_daily_mail")

    ARTICLE_TO_SUMMARIZE = (
        "PG&E stated it scheduled the blackouts in response to forecasts for high winds "
        "amid dry conditions. The aim is to reduce the risk of wildfires. Nearly 800 thousand customers were "
        "scheduled to be affected by the shutoffs which were expected to last through at least midday tomorrow."
    )
    input_ids = tokenizer(ARTICLE_TO_SUMMARIZE, return_tensors="pt").input_ids

    generated_ids = model.generate(input_ids)
    generated_text = tokenizer.batch_decode(generated_ids, skip_special_tokens=True)[0]

    assert isinstance(generated_text, str) and generated_ids[0, 0] == 101
    theirs = minilm_pair[0].generate(input_ids, decoder_start_token_id=101, pad_token_id=0)
    assert torch.equal(generated_ids, theirs)


LOOKUPS = [
    dict(prompt_lookup_num_tokens=1),
    dict(prompt_lookup_num_tokens=3),
    dict(prompt_lookup_num_tokens=10, max_matching_ngram_size=1),
    dict(prompt_lookup_num_tokens=3, no_repeat_ngram_size=3, repetition_penalty=1.2),
    dict(prompt_lookup_num_tokens=5, max_new_tokens=7, min_new_tokens=4),
]


@pytest.mark.parametrize("options", LOOKUPS, ids=[str(o) for o in LOOKUPS])
@pytest.mark.parametrize("seed", [2, 3])
def test_prompt_lookup_gives_greedy_tokens_as_transformers_does(tiny_pair, options, seed):
    theirs, ours = tiny_pair
    x, _ = _source(B=1, S=12, seed=seed)
    kw = dict(max_new_tokens=30, return_dict_in_generate=True, output_scores=True) | options
    passes = []
    hook = ours.decoder.register_forward_hook(lambda *args: passes.append(1))
    try:
        b = ours.generate(x, **kw)
    finally:
        hook.remove()
    a = theirs.generate(x, **IDS, **kw)
    plain = ours.generate(x, **{k: v for k, v in kw.items() if k != "prompt_lookup_num_tokens"})
    assert torch.equal(b.sequences, a.sequences) and torch.equal(b.sequences, plain.sequences)
    assert len(b.scores) == len(a.scores) == b.sequences.shape[1] - 1
    for mine, hf_scores in zip(b.scores, a.scores):
        torch.testing.assert_close(mine, hf_scores)
    if b.sequences.shape[1] > 20:
        assert len(passes) < b.sequences.shape[1] - 1  # some guesses were kept


def test_prompt_lookup_guesses_from_the_source_only_in_a_shared_vocabulary(tiny_pair, monkeypatch):
    from warmstart.torch import generation

    _, ours = tiny_pair
    seen = []
    real = generation.generate
    monkeypatch.setattr(generation, "generate", lambda *a, **k: seen.append(k) or real(*a, **k))
    x, _ = _source(B=1)
    ours.generate(x, max_new_tokens=3, prompt_lookup_num_tokens=2)
    assert torch.equal(seen[-1]["lookahead"].source, x)
    monkeypatch.setattr(ours.config.encoder, "vocab_size", ours.config.decoder.vocab_size + 1)
    ours.generate(x, max_new_tokens=3, prompt_lookup_num_tokens=2)
    assert seen[-1]["lookahead"].source is None


def test_prompt_lookup_of_a_batch_is_refused_by_name(tiny_pair):
    x, _ = _source(B=2)
    with pytest.raises(ValueError, match="prompt_lookup_num_tokens.*2 rows"):
        tiny_pair[1].generate(x, prompt_lookup_num_tokens=3)


SCORED = [
    dict(),
    dict(do_sample=True, top_k=5),
    dict(num_beams=3, num_return_sequences=2),
    dict(num_beams=4, length_penalty=0.5, early_stopping=True),
]


@pytest.mark.parametrize("options", SCORED, ids=[str(o) for o in SCORED])
@pytest.mark.parametrize("normalize", [False, True])
def test_transition_scores_equal_transformers(tiny_pair, options, normalize):
    theirs, ours = tiny_pair
    x, mask = _source(B=3)
    kw = dict(max_new_tokens=9, return_dict_in_generate=True, output_scores=True, **options)
    torch.manual_seed(5)
    out = ours.generate(x, attention_mask=mask, **kw)
    args = (out.sequences, out.scores, out.beam_indices, normalize)
    mine = ours.compute_transition_scores(*args)
    torch.testing.assert_close(mine, theirs.compute_transition_scores(*args))
    torch.manual_seed(5)
    ref = theirs.generate(x, attention_mask=mask, **IDS, **kw)
    torch.testing.assert_close(
        mine,
        theirs.compute_transition_scores(
            ref.sequences, ref.scores, getattr(ref, "beam_indices", None), normalize
        ),
    )


def test_generate_resolves_lengths_once_and_copies_the_settings_twice(tiny_pair, monkeypatch):
    """One prepared config serves the whole search: the model's merge copies the settings once,
    the plan once, and the search functions take the plan's config as it is."""
    import copy

    from warmstart.generation import plan as plan_module

    _, ours = tiny_pair
    x = torch.tensor([[5, 6, 7, 8]])
    resolved, copies = [], []
    real_resolve, real_copy = plan_module.resolve_lengths, copy.deepcopy

    def counting_resolve(config, prompt):
        resolved.append(prompt)
        return real_resolve(config, prompt)

    def counting_copy(value, *args):
        if isinstance(value, GenerationConfig):
            copies.append(value)
        return real_copy(value, *args)

    monkeypatch.setattr(plan_module, "resolve_lengths", counting_resolve)
    monkeypatch.setattr(copy, "deepcopy", counting_copy)
    for options in ({}, {"num_beams": 3}, {"do_sample": True, "top_k": 4}):
        resolved.clear(), copies.clear()
        ours.generate(x, max_new_tokens=4, **options)
        assert resolved == [1] and len(copies) == 2, (options, resolved, len(copies))
