"""TensorFlow rows of ``make bench``: XLA-compiled ``generate`` at batch 1, greedy and beam 4
(ms per step after compiling, and the compile time), warmstart's TF side beside transformers 4.46's
``TFEncoderDecoderModel`` under the same ``tf.function(jit_compile=True)``, timed in the same run.

transformers 4.46 runs in its own environment (``.venv-ref-tf``, made by ``make bench-refs``): this
file is also its script there (``python bench_tf.py FOLDER``, printing JSON), and imports nothing
at the top but the standard library. Its tokens are not compared (4.46's compiled generate leaves
its own eager tokens within a few steps); ours are checked against the PyTorch side's.

The floor column is what TensorFlow's XLA product kernels alone cost at the search's row count (1
for greedy, 4 for beam 4): every weight a step multiplies, multiplied once in one computation, in
the faster layouts; the note adds the same products one after another (as a decoder runs them) and
reading the weights once at numpy's rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SOURCE_TOKENS = 64
SHORT = 4  # new tokens of the run whose time is taken off, leaving the steps alone
SEARCHES = {"greedy": {}, "beam 4": {"num_beams": 4}}
ROWS = {"greedy": 1, "beam 4": 4}  # rows a step multiplies, batch 1
REFERENCE = Path(__file__).resolve().parents[1] / ".venv-ref-tf" / "bin" / "python"


def source_ids():
    import numpy as np

    return np.random.default_rng(0).integers(1000, 30000, (1, SOURCE_TOKENS)).astype(np.int32)


def time_generate(model: Any, steps: int, repeats: int) -> dict[str, dict[str, Any]]:
    """Per search: ms per decoding step (the difference of a long and a short compiled decode, both
    forced to their length, each the fastest of ``repeats`` runs), the long decode's compile time,
    and its tokens."""
    import tensorflow as tf

    x = tf.constant(source_ids())
    out = {}
    for name, options in SEARCHES.items():
        runs = {}
        for n in (SHORT, SHORT + steps):
            kw = dict(options, max_new_tokens=n, min_new_tokens=n)
            fn = tf.function(lambda x, kw=kw: model.generate(x, **kw), jit_compile=True)
            start = time.perf_counter()
            tokens = fn(x).numpy()
            compile_s = time.perf_counter() - start
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(x).numpy()
                times.append(time.perf_counter() - start)
            runs[n] = (min(times), compile_s, tokens)  # noise only ever adds time
        step = (runs[SHORT + steps][0] - runs[SHORT][0]) / steps
        out[name] = {
            "ms_per_step": 1000 * step,
            "compile_s": runs[SHORT + steps][1],
            "tokens": runs[SHORT + steps][2].tolist(),
        }
    return out


def _reference(folder: Path, steps: int, repeats: int) -> dict | None:
    """transformers 4.46's timings, from its environment, or None where it is absent or fails."""
    if not REFERENCE.is_file():
        return None
    command = [str(REFERENCE), __file__, str(folder), str(steps), str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        print(f"bench_tf: transformers 4.46 failed: {done.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pytorch_tokens(folder: Path, steps: int) -> dict[str, list]:
    import torch

    from warmstart import EncoderDecoderModel

    model = EncoderDecoderModel.from_pretrained(folder)
    x = torch.tensor(source_ids()).long()
    n = SHORT + steps
    return {
        name: model.generate(x, max_new_tokens=n, min_new_tokens=n, **options).tolist()
        for name, options in SEARCHES.items()
    }


def _floor_ms(model: Any) -> float:
    """Reading every decoder weight once, at the rate numpy sums a 256 MB array here (ms)."""
    import numpy as np

    big = np.ones(64 * 2**20, np.float32)
    big.sum()
    start = time.perf_counter()
    big.sum()
    rate = big.nbytes / (time.perf_counter() - start)
    weights = sum(int(np.prod(v.shape)) * 4 for v in model.decoder.p.values())
    return 1000 * weights / rate


CROSS_ONCE = (
    "crossattention.self.key",
    "crossattention.self.value",
    "encoder_attn.k_proj",
    "encoder_attn.v_proj",
    "crossattention.c_attn",
)


def multiplied(decoder: Any) -> list:
    """The (out, in) weights a decoding step of the TF ``decoder`` multiplies, in the decoder's
    order, its LM head's last: every linear weight but the cross-attention's key/value
    projections (applied once per decode)."""
    p = decoder.p
    names = [
        k
        for k, w in p.items()
        if len(w.shape) == 2 and k[:-6] + "bias" in p and not any(s in k for s in CROSS_ONCE)
    ]
    name = decoder.output_name
    return [p[k] for k in names] + [p[name] if name in p else decoder.get_input_embeddings()]


def _products_floor_ms(model: Any, rows: int, repeats: int, chained: bool = False) -> float:
    """ms for XLA (TensorFlow's) to multiply ``rows`` rows by every weight a decoding step
    multiplies, each once, in one computation: the linear weights but the cross-attention's
    key/value projections (applied once per decode), and the LM head's; the fastest of (in, out)
    and (out, in) layouts for the layers' weights and for the head's. What the product kernels alone
    cost at that row count, whatever the implementation around them. ``chained``: one product after
    another, in the decoder's order (each takes the last output of its input width), as a decoder
    has to run them."""
    import itertools

    import numpy as np
    import tensorflow as tf

    dec = model.decoder
    out_in = [tf.identity(w) for w in multiplied(dec)]
    in_out = [tf.transpose(w) for w in out_in]
    is_head = [False] * (len(out_in) - 1) + [True]
    rng = np.random.default_rng(0)
    xs = [tf.constant(rng.standard_normal((rows, w.shape[1])), tf.float32) for w in out_in]
    best = float("inf")
    for layers_t, head_t in itertools.product((False, True), repeat=2):
        ws = [(in_out if (head_t if h else layers_t) else out_in)[i] for i, h in enumerate(is_head)]
        flags = [head_t if h else layers_t for h in is_head]

        @tf.function(jit_compile=True)
        def run(xs, ws, flags=flags):
            if not chained:
                return tf.add_n(
                    [
                        tf.reduce_sum(tf.matmul(x, w, transpose_b=not t))
                        for x, w, t in zip(xs, ws, flags)
                    ]
                )
            last = {}
            for x, w, t in zip(xs, ws, flags):
                width_in, width_out = (w.shape[0], w.shape[1]) if t else (w.shape[1], w.shape[0])
                last[width_out] = tf.matmul(last.get(width_in, x), w, transpose_b=not t)
            return tf.add_n([tf.reduce_sum(v) for v in last.values()])

        run(xs, ws).numpy()
        for _ in range(repeats * 3):
            start = time.perf_counter()
            run(xs, ws).numpy()
            best = min(best, time.perf_counter() - start)
    return 1000 * best


def rows(folder: Path, args: Any) -> list[dict]:
    """The TF rows: for greedy and beam 4 at batch 1, ms/step and compile seconds."""
    from warmstart.tf import TFEncoderDecoderModel

    quick = getattr(args, "quick", False)
    steps, repeats = (16, 3) if quick else (32, 5)
    ours = time_generate(TFEncoderDecoderModel.from_pretrained(folder), steps, repeats)
    theirs = _reference(folder, steps, repeats)
    expected = _pytorch_tokens(folder, steps)
    loaded = TFEncoderDecoderModel.from_pretrained(folder)
    read = _floor_ms(loaded)
    floors = {name: _products_floor_ms(loaded, ROWS[name], repeats) for name in SEARCHES}
    chains = {name: _products_floor_ms(loaded, ROWS[name], repeats, True) for name in SEARCHES}
    out = []
    for name in SEARCHES:
        same = ours[name]["tokens"] == expected[name]
        note = f"XLA; tokens {'equal' if same else 'DIFFER from'} the PyTorch side's"
        note += (
            f"; floor: {ROWS[name]}-row products at once; one after another {chains[name]:.2f} ms"
            f"; weights read once {read:.2f} ms"
        )
        ref = None if theirs is None else theirs[name]
        out.append(
            dict(
                figure=f"tf xla {name} b1",
                unit="ms/step",
                warmstart=ours[name]["ms_per_step"],
                transformers=None if ref is None else ref["ms_per_step"],
                floor=floors[name],
                note=note,
            )
        )
        out.append(
            dict(
                figure=f"tf xla {name} b1 compile",
                unit="s",
                warmstart=ours[name]["compile_s"],
                transformers=None if ref is None else ref["compile_s"],
                floor=None,
                note="first call of the compiled generate",
            )
        )
    return out


if __name__ == "__main__":  # in transformers 4.46's environment
    from transformers import TFEncoderDecoderModel as Reference

    folder, steps, repeats = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(time_generate(Reference.from_pretrained(folder), steps, repeats)))
