"""The Flax side's rows of ``make bench``: jit-compiled greedy and beam-4 decoding at batch 1 on the
saved MiniLM bert2bert, ms per step after compiling and the compile time, beside transformers
4.46's Flax ``generate`` under ``jax.jit`` on the same weights (run in its own environment,
``.venv-ref-flax`` at the repository root, when present) and two floors measured in JAX in the
same run: reading the decoder's weights once (the note), and multiplying the search's rows by every
weight a step multiplies (the floor column: 1 row for greedy, 4 for beam 4), which is what XLA's
product kernels alone cost at that row count, whatever the implementation around them; the note
adds the same products run one after another, as a decoder has to.

Both sides decode exactly ``STEPS`` tokens (``min_length`` keeps eos out) from the same source ids.
4.46's Flax ``encode`` passes ``position_ids`` where BERT takes ``token_type_ids``; its side is run
with ``position_ids`` of zeros, which land there, so that it encodes as BERT does and the tokens can
be compared. Run as a script (``bench_flax.py FOLDER OUT.json``) it is that 4.46 side; it then
imports nothing of warmstart.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

STEPS = 32
SOURCE = 24  # source tokens
MODES = {"greedy": {}, "beam 4": {"num_beams": 4}}
ROWS = {"greedy": 1, "beam 4": 4}  # rows a step multiplies, batch 1
REF_PYTHON = Path(__file__).resolve().parents[1] / ".venv-ref-flax" / "bin" / "python"


def source_ids(vocab: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(1000, min(vocab, 20000), (1, SOURCE)).astype(np.int32)


def time_decode(run, repeats: int) -> tuple[float, float, np.ndarray]:
    """(compile seconds, ms per step, tokens) of a jitted decode ``run()``; the best of
    ``repeats`` runs (a shared machine only ever slows a run down)."""
    start = time.perf_counter()
    tokens = np.asarray(run())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - start)
    steady = min(times)
    return first - steady, 1000 * steady / STEPS, tokens


def options(mode: str) -> dict:
    return {"max_new_tokens": STEPS, "min_length": STEPS + 1, **MODES[mode]}


def weights_floor(params: dict, repeats: int) -> float:
    """ms to read every decoder weight once (a jitted sum over them)."""
    leaves = jax.tree.leaves(params)
    read = jax.jit(lambda ws: sum(jnp.sum(w) for w in ws))
    jax.block_until_ready(read(leaves))
    times = []
    for _ in range(repeats * 5):
        start = time.perf_counter()
        jax.block_until_ready(read(leaves))
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


LOOKED_UP = ("position_embeddings", "token_type_embeddings", "embed_positions")
ONCE = (
    "crossattention/self/key",
    "crossattention/self/value",
    "encoder_attn/k_proj",
    "encoder_attn/v_proj",
    "crossattention/c_attn",
)


def multiplied(params: dict) -> list[tuple[str, jax.Array]]:
    """The decoder's 2-D weights a decoding step multiplies, by path: not the tables it looks up
    one row of, nor the cross-attention key/value projections (applied once per decode)."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    named = [("/".join(str(getattr(k, "key", k)) for k in path), w) for path, w in flat]
    return [
        (name, w)
        for name, w in named
        if w.ndim == 2 and not any(s in name for s in LOOKED_UP + ONCE)
    ]


FORMS = {  # a (rows, in) x times a weight held as (in, out) ``k`` or as (out, in) ``kt``
    "x @ k": lambda x, k, kt: x @ k,
    "x @ kt.T": lambda x, k, kt: x @ kt.T,
    "(kt @ x.T).T": lambda x, k, kt: (kt @ x.T).T,
}


def _products(forms, xs, ks, kts, chained: bool):
    """Every product once; ``chained``: each takes the last output of its input width (a
    decoder's order: each product waits for the one before)."""
    if not chained:
        return sum(jnp.sum(f(x, k, kt)) for f, x, k, kt in zip(forms, xs, ks, kts))
    last = {}
    for f, x, k, kt in zip(forms, xs, ks, kts):
        last[k.shape[1]] = f(last.get(k.shape[0], x), k, kt)
    return sum(jnp.sum(v) for v in last.values())


def products_floor(params: dict, rows: int, repeats: int, chained: bool = False) -> float:
    """ms for XLA to multiply ``rows`` rows by every weight a decoding step multiplies, each once,
    in one computation (as a step reads them all), the fastest of every choice of :data:`FORMS`
    for the layers' weights and for the LM head's: the least a step can cost with these product
    kernels at that row count, whatever the implementation around them. ``chained``: one product
    after another, in the decoder's order, as a decoder has to run them."""
    weights = multiplied(params)
    weights.sort(key=lambda nw: nw[0].endswith("embedding"))  # the LM head last, stable
    head = [name.endswith("embedding") for name, _ in weights]
    ks = [w.T if h else w for (_, w), h in zip(weights, head)]  # (in, out)
    kts = [jnp.asarray(np.asarray(k).T.copy()) for k in ks]  # (out, in)
    ks = [jnp.asarray(np.asarray(k).copy()) for k in ks]
    rng = np.random.default_rng(0)
    xs = [jnp.asarray(0.01 * rng.standard_normal((rows, k.shape[0])), jnp.float32) for k in ks]
    best = float("inf")
    for layer_form, head_form in itertools.product(FORMS.values(), repeat=2):
        forms = [head_form if h else layer_form for h in head]
        run = jax.jit(partial(_products, forms, chained=chained))
        jax.block_until_ready(run(xs, ks, kts))
        for _ in range(repeats * 3):
            start = time.perf_counter()
            jax.block_until_ready(run(xs, ks, kts))
            best = min(best, time.perf_counter() - start)
    return 1000 * best


def rows(folder: Path, args) -> list[dict]:
    """The Flax rows (``figure, unit, warmstart, transformers, floor, note``)."""
    from warmstart.flax import FlaxEncoderDecoderModel

    repeats = 2 if getattr(args, "quick", False) else 5
    model = FlaxEncoderDecoderModel.from_pretrained(folder)
    ids = source_ids(model.config.encoder.vocab_size)
    read = weights_floor(model.params["decoder"], repeats)
    dec = model.params["decoder"]
    floors = {mode: products_floor(dec, ROWS[mode], repeats) for mode in MODES}
    chains = {mode: products_floor(dec, ROWS[mode], repeats, chained=True) for mode in MODES}
    ours = {}
    for mode in MODES:
        ours[mode] = time_decode(
            lambda m=mode: model.generate(ids, **options(m)).sequences, repeats
        )
    theirs = reference(model, repeats)
    out = []
    for mode, (compile_s, ms, tokens) in ours.items():
        ref = theirs.get(mode)
        same = (
            ""
            if ref is None
            else ("same tokens" if ref["tokens"] == tokens.tolist() else "TOKENS DIFFER")
        )
        note = f"jax.jit, batch 1, {STEPS} steps" + (f"; {same}" if same else "")
        note += (
            f"; floor: {ROWS[mode]}-row products at once; one after another {chains[mode]:.2f} ms"
            f"; weights read once {read:.2f} ms"
        )
        out.append(
            dict(
                figure=f"flax decode {mode} b1",
                unit="ms/step",
                warmstart=ms,
                transformers=None if ref is None else ref["ms"],
                floor=floors[mode],
                note=note,
            )
        )
        out.append(
            dict(
                figure=f"flax decode {mode} b1, compile",
                unit="s",
                warmstart=compile_s,
                transformers=None if ref is None else ref["compile"],
                floor=None,
                note="first call minus a later one",
            )
        )
    return out


def reference(model, repeats: int) -> dict:
    """4.46's timings and tokens per mode, from its environment, or {} where it is absent."""
    if not REF_PYTHON.exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, flax_msgpack=True)  # 4.46 reads flax_model.msgpack
        out = Path(tmp) / "out.json"
        done = subprocess.run(
            [str(REF_PYTHON), __file__, tmp, str(out), str(repeats)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            print(
                f"bench_flax: transformers 4.46's side failed:\n{done.stderr[-2000:]}",
                file=sys.stderr,
            )
            return {}
        return json.loads(out.read_text())


def reference_main(folder: str, out: str, repeats: str) -> None:
    """4.46's Flax side (run under its environment)."""
    import transformers as hf

    model = hf.FlaxEncoderDecoderModel.from_pretrained(folder)
    ids = source_ids(model.config.encoder.vocab_size)
    zeros = jnp.zeros_like(ids)  # reaches BERT's token_type_ids (see the module docstring)
    result = {}
    for mode in MODES:
        run = jax.jit(
            lambda p, x, m=mode: (
                model.generate(x, params=p, position_ids=zeros, **options(m)).sequences
            )
        )
        compile_s, ms, tokens = time_decode(lambda r=run: r(model.params, ids), int(repeats))
        result[mode] = {"compile": compile_s, "ms": ms, "tokens": tokens.tolist()}
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    reference_main(*sys.argv[1:])
