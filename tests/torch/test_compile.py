"""The compiled decoding step (``warmstart.torch.speed.compile``) gives the eager tokens, greedy and beam, and
falls back to eager decoding when compiling is impossible."""

import warnings

import pytest
import torch
from test_fast_paths import IDS, _source, _tiny_bert2bert

from warmstart.torch.decoding import PACK_MIN_STEPS
from warmstart.torch.speed import compile as wcompile

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def compiled_pair(tmp_path_factory):
    """A tiny bert2bert in transformers, ours eager and ours compiled (compiled once here)."""
    folder = tmp_path_factory.mktemp("compiled")
    theirs, eager = _tiny_bert2bert(folder / "a")
    _, fast = _tiny_bert2bert(folder / "b")
    wcompile.compile_decoder(fast)
    x, _ = _source(B=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # compiling must not fall back here
        fast.generate(x, max_new_tokens=6)
        fast.generate(x, max_new_tokens=6, num_beams=3)
    return theirs, eager, fast


def counted(holder) -> list:
    """Wrap ``holder.compiled`` so that each call appends to the list returned."""
    calls, real = [], holder.compiled
    holder.compiled = lambda *a: calls.append(1) or real(*a)
    return calls


def test_compiled_step_runs(compiled_pair):
    _, _, fast = compiled_pair
    assert not fast.compiled_step.failed
    real = fast.compiled_step.compiled
    calls = counted(fast.compiled_step)
    try:
        fast.generate(_source(B=1)[0], max_new_tokens=6)
    finally:
        fast.compiled_step.compiled = real
    assert len(calls) == 4  # every step but the first two (prompt, then length 1)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("beams", [1, 3])
def test_compiled_tokens_equal_eager_and_transformers(compiled_pair, seed, beams):
    theirs, eager, fast = compiled_pair
    x, _ = _source(B=1, S=7 + seed, seed=seed)  # another source length: the same graph
    kw = dict(max_new_tokens=10, num_beams=beams)
    out = fast.generate(x, **kw)
    assert torch.equal(out, eager.generate(x, **kw))
    assert torch.equal(out, theirs.generate(x, **IDS, **kw))


def test_many_rows_stay_eager(compiled_pair):
    """More rows than SMALL_ROWS are not compiled (and padded sources still decode right)."""
    _, eager, fast = compiled_pair
    x, mask = _source(B=wcompile.SMALL_ROWS + 1)
    assert torch.equal(
        fast.generate(x, attention_mask=mask, max_new_tokens=5),
        eager.generate(x, attention_mask=mask, max_new_tokens=5),
    )


@pytest.mark.parametrize("B", [2, wcompile.SMALL_ROWS + 1])
def test_weights_are_packed_only_for_steps_the_graph_does_not_take(compiled_pair, packs, B):
    """A compiled step reads the weights as they are: packing them for its decodes is waste."""
    _, eager, fast = compiled_pair
    x, mask = _source(B=B)
    kw = dict(attention_mask=mask, max_new_tokens=PACK_MIN_STEPS, num_beams=3 if B == 2 else 1)
    want = eager.generate(x, **kw)
    assert packs  # the eager model packs
    packs.clear()
    assert torch.equal(fast.generate(x, **kw), want)
    assert not fast.compiled_step.failed
    compiled_rows = B * kw["num_beams"] <= wcompile.SMALL_ROWS
    assert (len(packs) == 0) if compiled_rows else (len(packs) > 0)


def test_compile_unavailable_falls_back(tmp_path, monkeypatch):
    _, model = _tiny_bert2bert(tmp_path)
    x, _ = _source(B=1)
    want = model.generate(x, max_new_tokens=6)

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="decoding eagerly"):
        wcompile.compile_decoder(model)
    assert "compiled_step" not in model.__dict__
    assert torch.equal(model.generate(x, max_new_tokens=6), want)


@pytest.mark.parametrize("part", ["decoder", "encoder"])
def test_compile_failure_warns_once_and_runs_eagerly(tmp_path, part):
    _, model = _tiny_bert2bert(tmp_path)
    x, _ = _source(B=1)
    want = model.generate(x, max_new_tokens=6)
    compile_part = getattr(wcompile, f"compile_{part}")
    name = "compiled_step" if part == "decoder" else "compiled_encoder"
    compile_part(model)

    def broken(*args):
        raise RuntimeError("inductor crashed")

    compiled = model.__dict__[name]
    compiled.compiled = broken
    with pytest.warns(RuntimeWarning, match="inductor crashed") as caught:
        got = model.generate(x, max_new_tokens=6)
    assert len(caught) == 1 and compiled.failed
    assert torch.equal(got, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(model.generate(x, max_new_tokens=6), want)  # no second warning
    compile_part(model, enabled=False)
    assert name not in model.__dict__


@pytest.mark.parametrize("kind", [None, "bf16", "int8"])
def test_compiled_step_gives_its_eager_tokens_in_one_graph(tmp_path, kind):
    """Nothing breaks the graph: not the products' choice of kernel (oneDNN's switch cannot be read
    inside a graph), nor quantised products (the bf16 product is one opaque operation: the
    process-wide gemv switch cannot be held inside a graph)."""
    from torch._dynamo.utils import counters

    _, model = _tiny_bert2bert(tmp_path)
    if kind is not None:
        model.quantize(kind)
    x, _ = _source(B=1)
    want = model.generate(x, max_new_tokens=8)
    wcompile.compile_decoder(model)
    counters.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = model.generate(x, max_new_tokens=8)
    assert not model.compiled_step.failed
    assert torch.equal(got, want)
    assert not counters["graph_break"], dict(counters["graph_break"])


def eager(model, x: torch.Tensor) -> torch.Tensor:
    """``model.generate(x)`` without its compiled step."""
    step = model.__dict__.pop("compiled_step")
    try:
        return model.generate(x, max_new_tokens=8)
    finally:
        model.__dict__["compiled_step"] = step


def test_compiled_decoders_keep_their_own_graphs(tmp_path):
    """Module guards are skipped (they cost a fraction of a millisecond each step), so each compile
    must keep its own graphs: these two decoders differ only in module attributes."""
    models = [_tiny_bert2bert(tmp_path / kind)[1].quantize(kind) for kind in ("bf16", "int8")]
    x, _ = _source(B=1)
    wanted = [model.generate(x, max_new_tokens=8) for model in models]
    for model in models:
        wcompile.compile_decoder(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for model, want in [*zip(models, wanted), (models[0], wanted[0])]:
            assert torch.equal(model.generate(x, max_new_tokens=8), want)


def test_a_decoder_changed_after_compiling_is_compiled_again(tmp_path):
    _, model = _tiny_bert2bert(tmp_path)
    x, _ = _source(B=1)
    wcompile.compile_decoder(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert torch.equal(model.generate(x, max_new_tokens=8), eager(model, x))
        graph = model.compiled_step.compiled

        with torch.no_grad():  # trained in place: the same graph reads the new values
            model.decoder.cls.predictions.bias[5] += 3.0
        assert torch.equal(model.generate(x, max_new_tokens=8), eager(model, x))
        assert model.compiled_step.compiled is graph

        model.quantize("int8")  # modules replaced
        assert torch.equal(model.generate(x, max_new_tokens=8), eager(model, x))
        assert model.compiled_step.compiled is not graph
    assert not model.compiled_step.failed


def test_compiled_encoder_gives_the_eager_states_and_tokens(tmp_path):
    from torch._dynamo.utils import counters

    _, model = _tiny_bert2bert(tmp_path)
    x, mask = _source(B=3)
    with torch.no_grad():
        want = model.encode(x, mask).last_hidden_state
    tokens = model.generate(x, attention_mask=mask, max_new_tokens=6)
    wcompile.compile_encoder(model)
    calls = counted(model.compiled_encoder)
    counters.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with torch.no_grad():
            got = model.encode(x, mask).last_hidden_state
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        assert torch.equal(model.generate(x, attention_mask=mask, max_new_tokens=6), tokens)
        other, _ = _source(B=2, S=5, seed=4)  # another shape compiles again
        with torch.no_grad():
            torch.testing.assert_close(
                model.encode(other).last_hidden_state,
                model.encoder(other).last_hidden_state,
                atol=1e-5,
                rtol=1e-5,
            )
    assert len(calls) == 3
    assert not counters["graph_break"], dict(counters["graph_break"])  # oneDNN products included
    labels = x.masked_fill(mask == 0, -100)
    model(input_ids=x, attention_mask=mask, labels=labels).loss.backward()  # training: eager
    assert len(calls) == 3 and not model.compiled_encoder.failed
    wcompile.compile_encoder(model, enabled=False)
    assert "compiled_encoder" not in model.__dict__


@pytest.mark.parametrize("beams", [1, 3])
def test_compiled_scores_equal_eager_scores_at_every_step(compiled_pair, beams):
    """Scores, not only tokens: a key or value cached in the wrong place shows here first."""
    _, eager, fast = compiled_pair
    x, _ = _source(B=1, seed=5)
    kw = dict(max_new_tokens=8, num_beams=beams, output_scores=True, return_dict_in_generate=True)
    got, want = fast.generate(x, **kw), eager.generate(x, **kw)
    assert torch.equal(got.sequences, want.sequences)
    for a, b in zip(got.scores, want.scores, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_decoding_in_training_mode_compiles_with_dropout(tmp_path):
    """A model left in training mode decodes with dropout (0.1 in the tiny configs); the compiled
    step takes the plain attention path then and must not fail."""
    _, model = _tiny_bert2bert(tmp_path)
    wcompile.compile_decoder(model.train())
    calls = counted(model.compiled_step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with torch.no_grad():
            out = model.generate(_source(B=1)[0], max_new_tokens=6, min_new_tokens=6)
    assert out.shape == (1, 7) and len(calls) == 4
    assert not model.compiled_step.failed


def test_prompt_lookup_rewinds_a_compiled_decode(compiled_pair):
    """Passes over guesses run eager, the steps between them compiled, over one rewound cache."""
    theirs, eager, fast = compiled_pair
    x, _ = _source(B=1, S=8, seed=3)  # a source whose decode has both
    passes = []
    real, guessing = fast.compiled_step.compiled, type(fast)._step_all
    calls = counted(fast.compiled_step)
    fast._step_all = lambda *args: passes.append(1) or guessing(fast, *args)
    try:
        out = fast.generate(x, max_new_tokens=20, prompt_lookup_num_tokens=3)
    finally:
        fast.compiled_step.compiled = real
        del fast._step_all
    assert calls and passes
    assert torch.equal(out, eager.generate(x, max_new_tokens=20))
    assert torch.equal(out, theirs.generate(x, **IDS, max_new_tokens=20))
