"""`make bench`: warmstart and transformers side by side on the MiniLM bert2bert, in one run.

The model is the demo's warm-started bert2bert after fine-tuning (``make demo`` leaves it; without
it the bench fine-tunes one as the demo does, about two minutes). Each figure is the median of
repeated runs after a warm-up, the libraries and variants interleaved run by run, printed with
their ratio and, where one applies, the floor measured on this machine in the same run:
- decoding at batch 1 is bound by memory bandwidth: its floor is the time to read once every
  weight a step reads (the decoder layers without the cross-attention keys/values, which are
  projected once, and the vocabulary projection), in the weights' precision;
- encoding and training are bound by matmul throughput: their floor is matmul FLOPs / the
  measured rate of a large fp32 matmul.
Reduced-precision rows (bf16 weights, int8 weights, a bf16 model) are compared with transformers
in fp32 and carry their quality on the demo's test split: the share of greedy outputs identical to
our fp32 ones and the change in ROUGE-L against the references. ``--quick`` takes fewer, smaller
runs. Writes the figures as JSON (``--output``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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

from warmstart.torch.speed.cpu import chosen, describe


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
        if self.unit in ("tokens/s", "seq/s"):
            return self.warmstart / self.transformers
        return self.transformers / self.warmstart


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    fns: list[Callable[[], object]],
    repeats: int,
    warmup: int = 1,
    sync: Callable[[], object] = lambda: None,
) -> list[float]:
    """Median seconds of each callable, run in turn after ``warmup`` rounds, the order reversed
    every other round (a, b, b, a, ...): a training step run first in its round measured up to 4%
    slower than the same step run second, whichever step it was. ``sync`` waits for work queued
    on an accelerator (``torch.cuda.synchronize``)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    pairs = list(zip(fns, times))
    for round_ in range(repeats):
        for fn, ts in pairs if round_ % 2 == 0 else pairs[::-1]:
            ts.append(timed(lambda fn=fn: (fn(), sync())))
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
    """Seconds to read ``mats`` once, in fp32, bf16 and int8.

    fp32 is the fastest of three readers: ``F.linear`` of one row (BLAS gemv), the product in the
    layout ``warmstart.torch.speed.products.linear`` uses for few rows (weight times a two-column matrix) and a
    plain sum of each matrix; the first is reported too (``fp32_gemv``), since it is what a
    library that calls ``F.linear`` can reach. bf16 is the faster of one-row products in ATen's
    kernel and in oneDNN's, int8 a one-row product in ATen's kernel.
    """
    from warmstart.torch.speed.cpu import onednn_off

    x = {k: torch.randn(1, k) for k in {m.shape[1] for m in mats}}
    cols = {k: torch.randn(2, k).t() for k in x}  # column-major, as linear() passes them
    bf = [m.bfloat16() for m in mats]
    xb = {k: v.bfloat16() for k, v in x.items()}
    q8 = [torch.randint(-127, 127, m.shape, dtype=torch.int8) for m in mats]
    s8 = [torch.ones(m.shape[0], dtype=torch.bfloat16) for m in mats]

    def gemv():
        for m in mats:
            F.linear(x[m.shape[1]], m)

    def columns():
        for m in mats:
            torch.mm(m, cols[m.shape[1]])

    def sums():
        for m in mats:
            m.sum()

    def bf16_aten():
        with onednn_off():
            bf16_onednn()

    def bf16_onednn():
        for m in bf:
            F.linear(xb[m.shape[1]], m)

    def int8():
        for m, s in zip(q8, s8):
            torch._weight_int8pack_mm(xb[m.shape[1]], m, s)

    times = interleaved([gemv, columns, sums, bf16_aten, bf16_onednn, int8], repeats, warmup=2)
    names = ("fp32_gemv", "fp32_columns", "fp32_sum", "bf16_aten", "bf16_onednn", "int8")
    found = dict(zip(names, times))
    found["fp32"] = min(times[:3])
    found["bf16"] = min(times[3:5])
    return found


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
def trained_folder(args, tmp: Path, data: dict[str, Path]) -> Path:
    """The demo's fine-tuned warm-started bert2bert: ``--trained``, else ``make demo``'s model if
    it is there, else fine-tuned now as the demo does (``--train-steps`` steps)."""
    from warmstart import AutoTokenizer
    from warmstart.demo import embedded_checkpoint, fine_tune, warm_started

    if args.trained and not (Path(args.trained) / "config.json").is_file():
        raise SystemExit(f"--trained {args.trained}: no saved model there (config.json missing).")
    folder = Path(args.trained or "demo_output/warm/model")
    if (folder / "config.json").is_file():
        print(f"Fine-tuned model: {folder}")
        return folder
    ckpt = embedded_checkpoint()
    tok = AutoTokenizer.from_pretrained(ckpt)
    torch.manual_seed(0)
    model = warm_started(ckpt, tok)
    print(f"No fine-tuned model (make demo leaves one); fine-tuning {args.train_steps} steps now.")
    demo = argparse.Namespace(steps=args.train_steps, batch_size=16, lr=2e-4, new_lr=2e-3)
    fine_tune(model, tok, data, tmp / "trained", demo)
    return tmp / "trained" / "model"


def load_models(folder: Path) -> dict:
    """The fine-tuned model in transformers and in every warmstart variant the bench times."""
    import transformers as hf

    import warmstart as ws

    hf.logging.set_verbosity_error()

    def ours(compiled: bool = False, **options):
        model = ws.EncoderDecoderModel.from_pretrained(folder, **options)
        return model.compile_decoder().compile_encoder() if compiled else model

    return {
        "transformers": hf.EncoderDecoderModel.from_pretrained(folder).eval(),
        "fp32": ours(),
        "bf16": ours(quantize="bf16"),
        "int8": ours(quantize="int8"),
        "bf16-model": ours(dtype=torch.bfloat16),
        "compiled": ours(compiled=True),
        "compiled bf16": ours(compiled=True, quantize="bf16"),
        "compiled int8": ours(compiled=True, quantize="int8"),
    }


LABELS = {
    "fp32": "",
    "bf16": ", bf16 weights",
    "int8": ", int8 weights",
    "bf16-model": ", bf16 model",
    "compiled": ", compiled",
    "compiled bf16": ", compiled, bf16 weights",
    "compiled int8": ", compiled, int8 weights",
}
PRECISION = {"fp32": "fp32", "compiled": "fp32", "bf16-model": "bf16"}


def generate_fn(model, x, steps: int, **options) -> Callable[[], object]:
    def run():
        with torch.no_grad():
            model.generate(
                x, max_new_tokens=steps, min_new_tokens=steps, eos_token_id=None, **options
            )

    return run


def decode_group(
    models: dict, keys: list[str], name: str, x, options: dict, args, floors: dict | None
) -> list[Row]:
    """One figure for transformers and each of ``keys``, timed interleaved in one loop; compiled
    models decode once first (that compiles; its time goes in the note)."""
    notes = {}
    for key in keys:
        if key.startswith("compiled"):
            first = timed(generate_fn(models[key], x, args.steps, **options))
            failed = models[key].compiled_step.failed
            notes[key] = "compile FAILED: eager" if failed else f"first decode {first:.0f} s"
    fns = [generate_fn(models[k], x, args.steps, **options) for k in ["transformers", *keys]]
    theirs, *ours = (1000 * t / args.steps for t in interleaved(fns, args.repeats))
    rows = []
    for key, ms in zip(keys, ours):
        floor = None
        if floors is not None:
            floor = 1000 * floors[PRECISION.get(key, key.split()[-1])]
        rows.append(
            Row(f"decode {name}{LABELS[key]}", "ms/step", ms, theirs, floor, notes.get(key, ""))
        )
    return rows


def decode_rows(models: dict, args, floors: dict[str, float]) -> list[Row]:
    x1 = torch.randint(1000, 30000, (1, 64))
    beam = {"num_beams": 4}
    return [
        *decode_group(models, list(LABELS), "greedy b1", x1, {}, args, floors),
        *decode_group(
            models, ["fp32", "compiled", "int8", "compiled int8"], "beam 4 b1", x1, beam, args, None
        ),
        *decode_group(
            models,
            ["fp32"],
            f"greedy b{args.batch}",
            torch.randint(1000, 30000, (args.batch, 64)),
            {},
            args,
            None,
        ),
    ]


USER_STEPS = 32
"""New tokens of the whole-``generate`` row (:func:`user_generate_row`)."""


def user_generate_row(
    tmp: Path, repeats: int, ckpt: Path | None = None, steps: int = USER_STEPS
) -> Row:
    """``generate(x, max_new_tokens=steps, min_new_tokens=steps)`` as a user calls it (eager,
    batch 1, no option of the bench's) on a bert2bert of ``ckpt`` (default the MiniLM BERT)
    composed and saved by transformers with its special tokens (eos included) set, loaded by each
    library from that folder; ms per new token, and whether both libraries gave the same tokens."""
    import transformers as hf

    import warmstart as ws
    from warmstart.demo import embedded_checkpoint

    ckpt = ckpt or embedded_checkpoint()
    tok = ws.AutoTokenizer.from_pretrained(ckpt)
    model = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(str(ckpt), str(ckpt))
    special = {
        "decoder_start_token_id": tok.cls_token_id,
        "pad_token_id": tok.pad_token_id,
        "eos_token_id": tok.sep_token_id,
    }
    for config in (model.config, model.generation_config):
        for name, value in special.items():
            setattr(config, name, value)
    model.save_pretrained(tmp / "user")
    theirs = hf.EncoderDecoderModel.from_pretrained(tmp / "user").eval()
    ours = ws.EncoderDecoderModel.from_pretrained(tmp / "user")
    x = torch.randint(1000, 30000, (1, 64))

    def run(m) -> Callable[[], torch.Tensor]:
        return lambda: m.generate(x, max_new_tokens=steps, min_new_tokens=steps)

    same = "yes" if torch.equal(run(ours)(), run(theirs)()) else "NO"
    a, b = (1000 * t / steps for t in interleaved([run(ours), run(theirs)], repeats))
    note = f"saved by transformers, eos set; whole call, eager; same tokens: {same}"
    return Row(f"whole generate b1, {steps} tokens", "ms/step", a, b, None, note)


LOOKUP_TOKENS = 10
"""``prompt_lookup_num_tokens`` of the prompt lookup rows (transformers' documented example)."""


def lookup_rows(models: dict, folder: Path, test_file: Path, n: int, repeats: int) -> list[Row]:
    """Greedy decoding of real inputs (the demo's test sources, one at a time, to their eos), plain
    and with prompt lookup decoding, in ms per generated token; each library's prompt lookup is
    compared with its own plain greedy's tokens and with the other library's prompt lookup."""
    from warmstart import AutoTokenizer
    from warmstart.train.data import read_pairs

    tok = AutoTokenizer.from_pretrained(folder)
    sources = [
        tok(source, truncation=True, max_length=64, return_tensors="pt").input_ids
        for source, _ in read_pairs(test_file)[:n]
    ]

    def decode_all(model, **options) -> Callable[[], list]:
        def run():
            with torch.no_grad():
                return [model.generate(x, max_new_tokens=40, **options) for x in sources]

        return run

    lookup = {"prompt_lookup_num_tokens": LOOKUP_TOKENS}
    theirs, ours, fast = models["transformers"], models["fp32"], models["compiled"]
    plain = decode_all(ours)()
    tokens = sum(out.shape[1] - 1 for out in plain)
    same = sum(torch.equal(a, b) for a, b in zip(plain, decode_all(ours, **lookup)()))
    fns = [
        decode_all(m, **o) for m in (theirs, ours, fast) for o in ({}, lookup)
    ]  # transformers, transformers lookup, ours, ours lookup, compiled, compiled lookup
    hf, hf_lookup, *mine = (1000 * t / tokens for t in interleaved(fns, repeats))
    name = "demo inputs, greedy b1"
    note = f"{len(sources)} test inputs, one at a time, to their eos"
    lookup_note = (
        f"vs transformers' own prompt lookup; tokens identical to greedy {same}/{len(sources)}"
    )
    return [
        Row(name, "ms/token", mine[0], hf, None, note),
        Row(f"{name}, compiled", "ms/token", mine[2], hf),
        Row(f"{name}, lookup {LOOKUP_TOKENS}", "ms/token", mine[1], hf_lookup, None, lookup_note),
        Row(f"{name}, compiled, lookup", "ms/token", mine[3], hf_lookup, None, lookup_note),
    ]


# ----------------------------------------------------------------------------------- quality
def quality(models: dict, folder: Path, test_file: Path, n: int) -> dict[str, dict[str, float]]:
    """Greedy outputs of each variant on the first ``n`` examples of the demo's test split: ROUGE-L
    against the references (0-100), its difference from fp32, and the share identical to fp32."""
    from warmstart import AutoTokenizer
    from warmstart.train.data import read_pairs, tokenize_pairs
    from warmstart.train.predict import evaluate

    tok = AutoTokenizer.from_pretrained(folder)
    pairs = read_pairs(test_file)[:n]
    examples = tokenize_pairs(pairs, tok, 64, 48, tok.sep_token_id, name=test_file.name)
    found = {}
    for key in ("fp32", "bf16", "int8", "bf16-model"):
        scores, texts = evaluate(
            models[key], tok, examples, [t for _, t in pairs], batch_size=50, max_new_tokens=40
        )
        found[key] = {"rougeL": scores["rougeL"], "texts": texts}
    base = found["fp32"]
    return {
        key: {
            "identical": sum(a == b for a, b in zip(base["texts"], v["texts"])) / len(pairs),
            "rougeL": v["rougeL"],
            "rougeL_vs_fp32": v["rougeL"] - base["rougeL"],
            "inputs": len(pairs),
        }
        for key, v in found.items()
    }


# ----------------------------------------------------------------------------------- matmul-bound
def encoder_fn(model, x) -> Callable[[], object]:
    encode = getattr(model, "encode", None) or model.get_encoder()  # ours may run it compiled

    def run():
        with torch.no_grad():
            encode(input_ids=x)

    return run


def train_fn(model, x, y, bf16: bool = False) -> Callable[[], object]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-6)

    def run():
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
    first = timed(encoder_fn(models["compiled"], ex))
    fns = [encoder_fn(m, ex) for m in (theirs, ours, models["compiled"])]
    b, a, c = (ex.numel() / t for t in interleaved(fns, args.repeats))
    floor = ex.numel() / (2 * enc_p * ex.numel() / rate)
    name = f"encoder {args.batch}x128"
    rows = [
        Row(name, "tokens/s", a, b, floor),
        Row(f"{name}, compiled", "tokens/s", c, b, floor, f"first call {first:.0f} s"),
    ]
    tx, ty = torch.randint(1000, 30000, (8, 128)), torch.randint(1000, 30000, (8, 64))
    a, b = interleaved([train_fn(ours, tx, ty), train_fn(theirs, tx, ty)], args.repeats)
    tokens = tx.numel() + ty.numel()
    flops = 6 * ((enc_p + cross_p) * tx.numel() + dec_p * ty.numel())
    rows.append(
        Row("training 8x(128+64)", "tokens/s", tokens / a, tokens / b, tokens * rate / flops)
    )
    fns = [train_fn(m, tx, ty, bf16=True) for m in (ours, theirs)]
    a, b = interleaved(fns, args.repeats)
    note = "both under torch.autocast(bfloat16), as Trainer's bf16=True"
    rows.append(
        Row("training 8x(128+64), bf16 autocast", "tokens/s", tokens / a, tokens / b, None, note)
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
def framework_rows(folder: Path, args) -> list[Row]:
    """The TensorFlow and Flax sides' rows: ``benchmarks/bench_<side>.py`` each has
    ``rows(folder, args) -> list[dict]`` (Row's fields) timing that side on the same saved model,
    beside transformers 4.46 where its environment is present. A side whose framework is not
    installed adds nothing."""
    out: list[Row] = []
    for side, package in (("tf", "tensorflow"), ("flax", "jax")):
        path = Path(__file__).with_name(f"bench_{side}.py")
        if not path.is_file() or importlib.util.find_spec(package) is None:
            continue
        spec = importlib.util.spec_from_file_location(f"bench_{side}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out += [Row(**row) for row in module.rows(folder, args)]
    return out


def bench_module(name: str):
    """``benchmarks/<name>.py`` loaded as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def finetune_rows(args) -> list[Row]:
    """With ``--finetune``: the whole fine-tuning job raced against Seq2SeqTrainer
    (``benchmarks/bench_finetune.py``; ``--finetune-steps`` and the rest pass through)."""
    if not args.finetune:
        return []
    module = bench_module("bench_finetune")
    names = ("steps", "batch_size", "test_inputs", "variants", "checkpoint")
    race = argparse.Namespace(**{n: getattr(args, f"finetune_{n}") for n in names})
    return [Row(**row) for row in module.rows(module.settle(race, args.quick))]


def onnx_rows(folder: Path, args, test_file: Path, models: dict, floors: dict) -> list[Row]:
    """The onnxruntime rows (``benchmarks/bench_onnx.py``), timed beside this run's transformers,
    PyTorch eager and compiled int8 models, with this run's weight-reading floors; nothing when
    onnxruntime or onnxscript (the exporter's) is not installed."""
    if any(importlib.util.find_spec(p) is None for p in ("onnxruntime", "onnxscript")):
        return []
    module = bench_module("bench_onnx")
    return [Row(**row) for row in module.rows(folder, args, test_file, models, floors)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="warmstart bench", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure")
    parser.add_argument("--steps", type=int, default=None, help="decoding steps timed per run")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--quality-inputs", type=int, default=300, help="test examples scored")
    parser.add_argument(
        "--lookup-inputs", type=int, default=30, help="test inputs decoded one at a time"
    )
    parser.add_argument(
        "--trained", default=None, help="fine-tuned model folder (default: make demo's, if there)"
    )
    parser.add_argument(
        "--train-steps", type=int, default=120, help="fine-tuning steps when there is no model"
    )
    parser.add_argument("--output", default="bench_results/bench.json")
    parser.add_argument("--quick", action="store_true", help="fewer and smaller runs")
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="also race the whole fine-tuning job against Seq2SeqTrainer (about 20 minutes)",
    )
    bench_module("bench_finetune").add_arguments(parser, prefix="finetune-")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.steps = args.steps or (16 if args.quick else 32)
    args.batch = 8 if args.quick else 32
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from warmstart.data import write_splits

    with tempfile.TemporaryDirectory() as tmp:
        data = write_splits(Path(tmp) / "data", seed=0)
        folder = trained_folder(args, Path(tmp), data)
        paths = chosen()  # measured once, before any timing or compiling
        print(f"Product paths measured faster on this CPU: {paths}")
        models = load_models(folder)
        mats = step_matrices(models["fp32"])
        floors = stream_floor(mats, 20)
        rate = matmul_rate(5)
        rows = decode_rows(models, args, floors)
        marks = quality(models, folder, data["test"], args.quality_inputs)
        for row in rows:
            key = next(
                (k for k, label in LABELS.items() if label and row.figure.endswith(label)), ""
            )
            mark = marks.get(key.removeprefix("compiled "))
            if mark and "greedy b1" in row.figure:
                row.note = (
                    f"identical {round(mark['identical'] * mark['inputs'])}/{mark['inputs']}, "
                    f"ROUGE-L {mark['rougeL_vs_fp32']:+.2f}; " + row.note
                ).strip("; ")
        rows.append(user_generate_row(Path(tmp), args.repeats))
        rows += lookup_rows(models, folder, data["test"], args.lookup_inputs, 3)
        rows += matmul_rows(models, args, rate)
        rows += load_rows(folder, 1 if args.quick else 3)
        rows += framework_rows(folder, args)
        rows += onnx_rows(folder, args, data["test"], models, floors)
    rows += finetune_rows(args)
    report(rows, rate, floors, mats, marks, args)


def cpu_line(cpu: dict) -> str:
    """The CPU's vector extensions, the limits set on torch's kernels and the product paths that
    ``warmstart.torch.cpu`` measured faster here, in one line."""
    ext = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in cpu["extensions"].items())
    paths = ", ".join(f"{name} {path}" for name, path in sorted(cpu["paths"].items()))
    return (
        f"CPU extensions: {ext}; kernels limited to ATen {cpu['aten_capability']}, "
        f"oneDNN {cpu['onednn_max_isa']}, MKL {cpu['mkl_instructions']}; paths: {paths or 'none'}"
    )


def report(rows: list[Row], rate: float, floors: dict, mats: list, marks: dict, args) -> None:
    n = sum(m.numel() for m in mats)
    cpu = describe()
    print(
        f"\nMiniLM bert2bert on {cpu['model']}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; medians of {args.repeats}"
    )
    print(cpu_line(cpu))
    print(
        f"matmul rate {rate / 1e9:.1f} GFLOP/s; the {n / 1e6:.1f}M weights a decoding step reads, "
        f"read once: fp32 {1000 * floors['fp32']:.2f} ms (gemv {1000 * floors['fp32_gemv']:.2f}, "
        f"two columns {1000 * floors['fp32_columns']:.2f}, sum {1000 * floors['fp32_sum']:.2f}), "
        f"bf16 {1000 * floors['bf16']:.2f} ms, int8 {1000 * floors['int8']:.2f} ms"
    )
    base = marks["fp32"]
    print(
        f"quality: greedy outputs on {base['inputs']} test examples of the demo, against fp32 "
        f"(ROUGE-L {base['rougeL']:.2f}); reduced-precision rows compare with transformers fp32\n"
    )
    head = (
        f"{'figure':40} {'unit':8} {'warmstart':>10} {'transformers':>12} {'ratio':>7} "
        f"{'floor':>9} {'vs floor':>8}  note"
    )
    print(head)
    print("-" * (len(head) + 30))
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
            f"{r.figure:40} {r.unit:8} {r.warmstart:10.2f} {theirs:>12} {ratio:>7} {floor:>9} "
            f"{vs:>8}  {r.note}"
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "cpu": cpu,
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
