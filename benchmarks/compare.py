"""The bench's main figures for two source trees of warmstart (two commits), in one run.

Each round starts one process per tree, alternately, and each process times warmstart from its
tree beside transformers on the same saved model, interleaved run by run with the bench's own
functions (its ``benchmarks/bench.py``); the speedups over transformers are compared as medians
over the rounds, so that a busy machine moves both trees alike. Trees come from ``git archive``:

    mkdir ../before && git archive 93170da | tar -x -C ../before
    python benchmarks/compare.py ../before . --trained demo_output/warm/model
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, sys, time, torch
sys.path.insert(0, "benchmarks")
import bench, transformers, warmstart
transformers.logging.set_verbosity_error()
folder, repeats, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
if threads:
    torch.set_num_threads(threads)
start = time.perf_counter()
ours = warmstart.EncoderDecoderModel.from_pretrained(folder)
load = time.perf_counter() - start
theirs = transformers.EncoderDecoderModel.from_pretrained(folder).eval()
x1, ex = torch.randint(1000, 30000, (1, 64)), torch.randint(1000, 30000, (8, 128))
tx, ty = torch.randint(1000, 30000, (8, 128)), torch.randint(1000, 30000, (8, 64))
cases = {
    "eager greedy b1": lambda m: bench.generate_fn(m, x1, steps),
    "beam 4 b1": lambda m: bench.generate_fn(m, x1, steps, num_beams=4),
    "encoder 8x128": lambda m: bench.encoder_fn(m, ex),
    "training 8x(128+64)": lambda m: bench.train_fn(m, tx, ty),
}
found = {"our load, seconds": load}
for name, make in cases.items():
    a, b = bench.interleaved([make(ours), make(theirs)], repeats)
    found[name] = b / a
print(json.dumps(found))
"""


def run_tree(tree: Path, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    options = [str(folder.resolve()), str(args.repeats), str(args.steps), str(args.threads)]
    out = subprocess.run(
        [sys.executable, "-c", WORKER, *options],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="the first source tree (a checkout's root)")
    parser.add_argument("after", type=Path, help="the second source tree")
    parser.add_argument("--trained", type=Path, default=Path("demo_output/warm/model"))
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--steps", type=int, default=16, help="decoding steps per run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in runs:
            tree = getattr(args, name)
            runs[name].append(run_tree(tree, args.trained, args))
    print(f"medians of {args.rounds} processes per tree; speedups over transformers, but load")
    print(f"{'figure':22} {'before':>8} {'after':>8}")
    for key in runs["before"][0]:
        before, after = (statistics.median(r[key] for r in runs[n]) for n in runs)
        print(f"{key:22} {before:8.2f} {after:8.2f}")
    print(json.dumps({n: r for n, r in runs.items()}))


if __name__ == "__main__":
    main()
