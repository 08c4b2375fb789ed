"""Each product path of ``warmstart.torch.cpu.CHOICES`` against transformers, in one run.

``make bench`` times the paths this CPU's measurement chose; this script times every candidate
(forced with ``cpu.forced``) beside transformers, interleaved run by run, on the figures the
choices decide: eager greedy decoding at batch 1, the encoder at 8x128 and a training step at
8x(128+64). Run it once per CPU kind; an AVX2-only CPU can be emulated on a newer one with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2``.

    python benchmarks/paths.py --trained demo_output/warm/model
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench import cpu_line, encoder_fn, generate_fn, interleaved, train_fn

from warmstart.torch.speed import cpu

SETTINGS = {
    "measured": {},
    "columns+onednn": {"few_rows": "columns", "many_rows": "onednn"},
    "linear+aten": {"few_rows": "linear", "many_rows": "aten"},
}
"""Paths timed: the measured choice, the paths chosen before it was measured, and the others."""


def forced(fn, paths: dict[str, str]):
    def run():
        with cpu.forced(**paths):
            fn()

    return run


def figures(ours, theirs, repeats: int, steps: int) -> dict[str, dict[str, float]]:
    """Speedups over transformers of each of :data:`SETTINGS` (ms/step or tokens/s ratios)."""
    x1 = torch.randint(1000, 30000, (1, 64))
    ex = torch.randint(1000, 30000, (8, 128))
    tx, ty = torch.randint(1000, 30000, (8, 128)), torch.randint(1000, 30000, (8, 64))
    cases = {
        "eager greedy b1": lambda m: generate_fn(m, x1, steps),
        "encoder 8x128": lambda m: encoder_fn(m, ex),
        "training 8x(128+64)": lambda m: train_fn(m, tx, ty),
    }
    found: dict[str, dict[str, float]] = {}
    for name, make in cases.items():
        fns = [make(theirs)] + [forced(make(ours), p) for p in SETTINGS.values()]
        hf, *mine = interleaved(fns, repeats)
        found[name] = {"transformers_s": hf} | {
            f"{key} speedup": hf / t for key, t in zip(SETTINGS, mine)
        }
        cells = "  ".join(f"{key} {hf / t:.2f}x" for key, t in zip(SETTINGS, mine))
        print(f"{name:22} transformers {1000 * hf:8.1f} ms  {cells}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trained", default="demo_output/warm/model")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers as hf

    import warmstart as ws

    hf.logging.set_verbosity_error()
    theirs = hf.EncoderDecoderModel.from_pretrained(args.trained).eval()
    ours = ws.EncoderDecoderModel.from_pretrained(args.trained)
    cpu.chosen()
    info = cpu.describe()
    print(f"{info['model']}, {torch.get_num_threads()} threads; {cpu_line(info)}", flush=True)
    found = figures(ours, theirs, args.repeats, args.steps)
    print(json.dumps({"cpu": info, "threads": torch.get_num_threads(), "figures": found}))


if __name__ == "__main__":
    main()
