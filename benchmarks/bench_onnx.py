"""The ONNX rows of ``make bench``: the fine-tuned model exported (fp32 and int8) and decoded by
onnxruntime (:mod:`warmstart.onnx`), timed in one interleaved loop with transformers eager, our
PyTorch eager and our compiled int8 PyTorch path; and optimum-onnx's ``ORTModelForSeq2SeqLM``
(no key/value cache for a bert2bert) where ``make bench-refs`` built its environment.

Figures: batch-1 greedy and beam 4 (ms/step), and beam 4 at batch 32 over the demo's test inputs
(sequences/s), each row's tokens compared with transformers'. The int8 export's quality: its
greedy outputs on the demo's test inputs against the fp32 export's (identical share, ROUGE-L).
Runs alone too: ``python benchmarks/bench_onnx.py --trained FOLDER [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

REF_PYTHON = Path(__file__).resolve().parent.parent / ".venv-ref-onnx" / "bin" / "python"


def _median_s(fns: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median seconds of each callable, run in turn after one warm-up round."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


def export_folders(folder: Path, tmp: Path) -> dict[str, Path]:
    """The model exported in fp32 and int8 (``warmstart export``'s function)."""
    from warmstart import AutoTokenizer, EncoderDecoderModel
    from warmstart.torch.export import export_onnx
    from warmstart.train import configure_special_tokens

    model = EncoderDecoderModel.from_pretrained(folder)
    configure_special_tokens(model, AutoTokenizer.from_pretrained(folder))
    return {
        kind: export_onnx(model, tmp / f"onnx-{kind}", quantize=q, source=folder)
        for kind, q in (("fp32", None), ("int8", "int8"))
    }


def _as_numpy(ids: Any) -> np.ndarray:
    return ids.numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)


def _runner(model: Any, x: np.ndarray, mask: np.ndarray, options: dict) -> Callable[[], Any]:
    """One ``generate`` call of a PyTorch model (torch tensors) or an ONNX one (numpy)."""
    if hasattr(model, "parameters"):
        tx, tm = torch.from_numpy(x), torch.from_numpy(mask)

        def run():
            with torch.no_grad():
                return model.generate(tx, attention_mask=tm, **options)

        return run
    return lambda: model.generate(x, mask, **options)


def _test_inputs(folder: Path, test_file: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test sources of the demo, tokenised and right-padded (n, S)."""
    from warmstart import AutoTokenizer
    from warmstart.train.data import read_pairs

    tok = AutoTokenizer.from_pretrained(folder)
    rows = [tok(s, truncation=True, max_length=64).input_ids for s, _ in read_pairs(test_file)[:n]]
    S = max(map(len, rows))
    x = np.full((len(rows), S), tok.pad_token_id, dtype=np.int64)
    mask = np.zeros_like(x)
    for i, r in enumerate(rows):
        x[i, : len(r)], mask[i, : len(r)] = r, 1
    return x, mask


def _figure(models: dict, x, mask, options: dict, repeats: int) -> tuple[dict, dict]:
    """Seconds per call of each model, and whether its tokens equal transformers'."""
    fns = {k: _runner(m, x, mask, options) for k, m in models.items()}
    reference = _as_numpy(fns["transformers"]())
    same = {}
    for key, fn in fns.items():
        out = _as_numpy(fn())
        same[key] = out.shape == reference.shape and bool((out == reference).all())
    seconds = dict(zip(fns, _median_s(list(fns.values()), repeats)))
    return seconds, same


def optimum_reference(
    folder: Path, tmp: Path, cases: dict[str, dict], python: Path = REF_PYTHON
) -> dict | None:
    """optimum-onnx's ORTModelForSeq2SeqLM on the same model and inputs, in its own environment:
    seconds per call and tokens of each case (None when ``make bench-refs`` did not build it)."""
    if not python.is_file():
        return None
    inputs = tmp / "optimum_inputs.json"
    inputs.write_text(
        json.dumps(
            {k: {**v, "x": v["x"].tolist(), "mask": v["mask"].tolist()} for k, v in cases.items()}
        )
    )
    code = f"""
import json, statistics, time, numpy as np
from optimum.onnxruntime import ORTModelForSeq2SeqLM
model = ORTModelForSeq2SeqLM.from_pretrained({str(folder)!r}, export=True, use_cache=False)
out = {{}}
for name, case in json.load(open({str(inputs)!r})).items():
    import torch
    x, mask = torch.tensor(case["x"]), torch.tensor(case["mask"])
    run = lambda: model.generate(x, attention_mask=mask, **case["options"])
    tokens = run().tolist()
    ts = []
    for _ in range(case["repeats"]):
        t = time.perf_counter(); run(); ts.append(time.perf_counter() - t)
    out[name] = {{"seconds": statistics.median(ts), "tokens": tokens}}
print(json.dumps(out))
"""
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"optimum-onnx reference failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def int8_quality(onnx: dict, folder: Path, test_file: Path, n: int) -> dict[str, float]:
    """Greedy outputs of the int8 export on ``n`` demo test inputs against the fp32 export's."""
    from warmstart import AutoTokenizer
    from warmstart.train.data import read_pairs
    from warmstart.train.metrics import compute_metrics

    tok = AutoTokenizer.from_pretrained(folder)
    pairs = read_pairs(test_file)[:n]
    texts = {}
    x_all, mask_all = _test_inputs(folder, test_file, n)
    for kind in ("fp32", "int8"):
        out = []
        for start in range(0, n, 50):
            x, mask = x_all[start : start + 50], mask_all[start : start + 50]
            keep = mask.sum(0) > 0
            ids = onnx[kind].generate(x[:, keep], mask[:, keep], max_new_tokens=40)
            out += tok.batch_decode(ids.tolist(), skip_special_tokens=True)
        texts[kind] = out
    refs = [t for _, t in pairs]
    rouge = {k: compute_metrics(v, refs)["rougeL"] for k, v in texts.items()}
    same = sum(a == b for a, b in zip(texts["fp32"], texts["int8"]))
    return {
        "identical": same,
        "inputs": len(pairs),
        "rougeL_fp32": rouge["fp32"],
        "rougeL_vs_fp32": rouge["int8"] - rouge["fp32"],
    }


def weight_floor_ms(folder: Path) -> dict[str, float]:
    """The time to read once the weights a decoder step multiplies (the step graph's matrices),
    in fp32 (4 bytes each) and int8 (1 byte), at the bandwidth numpy sums a buffer of the fp32
    weights' size here."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(folder / "decoder_step.onnx")).graph
    multiplied = {name for node in graph.node if node.op_type != "Gather" for name in node.input}
    n = sum(
        numpy_helper.to_array(t).size
        for t in graph.initializer
        if len(t.dims) == 2 and t.name in multiplied  # not the embedding tables: one row read
    )
    buf = np.ones(n // 2, dtype=np.float64)  # 4 n bytes
    seconds = _median_s([lambda: np.add.reduce(buf)], 5)[0]
    return {"weights": n, "fp32": 1000 * seconds, "int8": 1000 * seconds / 4}


def rows(
    folder: Path,
    args: Any,
    test_file: Path,
    models: dict | None = None,
    floors: dict[str, float] | None = None,
) -> list[dict]:
    """The ONNX rows, as dicts of ``bench.Row``'s fields.

    Args:
        folder: the fine-tuned model.
        args: the bench's options (``quick``, ``repeats``, ``steps``, ``batch``).
        test_file: the demo's test split.
        models: the bench's loaded models (``transformers``, ``fp32``, ``compiled int8``); loaded
            here when not given.
        floors: the bench's weight-reading floors in seconds (``fp32``, ``int8``); measured here
            with numpy when not given.
    """
    from warmstart.onnx import ORTEncoderDecoderModel

    tmp = Path(tempfile.mkdtemp())
    exported = export_folders(folder, tmp)
    onnx = {k: ORTEncoderDecoderModel.from_pretrained(p) for k, p in exported.items()}
    if models is None:
        import transformers as hf

        import warmstart as ws

        hf.logging.set_verbosity_error()
        models = {
            "transformers": hf.EncoderDecoderModel.from_pretrained(folder).eval(),
            "fp32": ws.EncoderDecoderModel.from_pretrained(folder),
        }
        if not getattr(args, "no_compiled", False):
            compiled = ws.EncoderDecoderModel.from_pretrained(folder, quantize="int8")
            models["compiled int8"] = compiled.compile_decoder().compile_encoder()
    numpy_floor = weight_floor_ms(exported["fp32"])
    floor_ms = {k: 1000 * floors[k] for k in ("fp32", "int8")} if floors else numpy_floor
    timed = {
        "transformers": models["transformers"],
        "pytorch eager": models["fp32"],
        "pytorch compiled int8": models.get("compiled int8"),
        "onnxruntime fp32": onnx["fp32"],
        "onnxruntime int8": onnx["int8"],
    }
    timed = {k: m for k, m in timed.items() if m is not None}
    steps, repeats = args.steps, args.repeats
    rng = np.random.default_rng(0)
    x1 = rng.integers(1000, 30000, (1, 64))
    fixed = dict(max_new_tokens=steps, min_new_tokens=steps, eos_token_id=None)
    xb, mb = _test_inputs(folder, test_file, args.batch)
    cases = {
        "greedy b1": dict(x=x1, mask=np.ones_like(x1), options=fixed, per="step"),
        "beam 4 b1": dict(x=x1, mask=np.ones_like(x1), options={**fixed, "num_beams": 4}),
        f"beam 4 b{args.batch} demo inputs": dict(
            x=xb, mask=mb, options=dict(num_beams=4, max_new_tokens=40), per="sequence"
        ),
    }
    python = Path(getattr(args, "optimum_python", None) or REF_PYTHON)
    theirs = optimum_reference(
        folder, tmp, {k: {**v, "repeats": repeats} for k, v in cases.items()}, python
    )
    out = []
    for name, case in cases.items():
        seconds, same = _figure(timed, case["x"], case["mask"], case["options"], repeats)
        per_sequence = case.get("per") == "sequence"

        def value(s: float, rows: int = len(case["x"]), per_sequence: bool = per_sequence) -> float:
            return rows / s if per_sequence else 1000 * s / steps

        for key in timed:
            if key == "transformers":
                continue
            note = f"tokens {'equal' if same[key] else 'DIFFER from'} transformers'"
            precision = "int8" if key.endswith("int8") else "fp32"
            floor = None if per_sequence else floor_ms[precision]
            out.append(
                dict(
                    figure=f"{name}, {key}",
                    unit="seq/s" if per_sequence else "ms/step",
                    warmstart=value(seconds[key]),
                    transformers=value(seconds["transformers"]),
                    floor=floor,
                    note=note + (f"; floor: {precision} weights read once" if floor else ""),
                )
            )
        if theirs is not None:
            ref = theirs[name]
            for kind in ("fp32", "int8"):
                mine = _runner(onnx[kind], case["x"], case["mask"], case["options"])()
                same_tokens = np.array_equal(np.asarray(ref["tokens"]), mine)
                out.append(
                    dict(
                        figure=f"{name}, onnxruntime {kind} vs optimum",
                        unit="seq/s" if per_sequence else "ms/step",
                        warmstart=value(seconds[f"onnxruntime {kind}"]),
                        transformers=value(ref["seconds"]),
                        floor=None,
                        note="'transformers' column: optimum-onnx ORTModelForSeq2SeqLM fp32, "
                        f"no cache; its tokens {'equal' if same_tokens else 'differ from'} ours",
                    )
                )
    q = int8_quality(onnx, folder, test_file, getattr(args, "quality_inputs", 300))
    shutil.rmtree(tmp, ignore_errors=True)  # the exports (the sessions hold what they need)
    out.append(
        dict(
            figure="onnxruntime int8 quality",
            unit="identical",
            warmstart=q["identical"],
            transformers=None,
            floor=None,
            note=f"of {q['inputs']} greedy test outputs equal fp32's; ROUGE-L "
            f"{q['rougeL_vs_fp32']:+.2f} vs fp32 ({q['rougeL_fp32']:.2f}); numpy weight floor "
            f"fp32 {numpy_floor['fp32']:.2f} ms, int8 {numpy_floor['int8']:.2f} ms",
        )
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The ONNX rows of the bench, alone.")
    parser.add_argument("--trained", required=True, help="fine-tuned model folder")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--quality-inputs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--optimum-python", default=None, help="python of an optimum-onnx env (.venv-ref-onnx)"
    )
    parser.add_argument(
        "--no-compiled", action="store_true", help="leave out the compiled int8 PyTorch rows"
    )
    args = parser.parse_args(argv)
    args.repeats, args.steps = (3, 16) if args.quick else (7, 32)
    args.batch = 8 if args.quick else 32
    if args.threads:
        torch.set_num_threads(args.threads)
    from warmstart.data import write_splits

    with tempfile.TemporaryDirectory() as tmp:
        data = write_splits(Path(tmp) / "data", seed=0)
        found = rows(Path(args.trained), args, data["test"])
    print(f"{'figure':52} {'unit':9} {'ours':>9} {'reference':>10} {'ratio':>7} {'floor':>7}  note")
    for r in found:
        ref = r["transformers"]
        higher = r["unit"] == "seq/s"
        ratio = (
            ""
            if ref is None
            else f"{(r['warmstart'] / ref if higher else ref / r['warmstart']):.2f}x"
        )
        floor = "" if r["floor"] is None else f"{r['floor']:.2f}"
        print(
            f"{r['figure']:52} {r['unit']:9} {r['warmstart']:9.2f} "
            f"{'' if ref is None else f'{ref:10.2f}':>10} {ratio:>7} {floor:>7}  {r['note']}"
        )


if __name__ == "__main__":
    sys.exit(main())
