"""The whole fine-tuning job, raced in one run: warmstart against transformers' Seq2SeqTrainer.

All three runs fine-tune the same MiniLM bert2bert (warm-started from the embedded checkpoint) on the
same generated data (:mod:`warmstart.data.headlines`: sources of 20 to 150 tokens spread as
documents' are, targets 5 to 30), with the same steps, batch size, AdamW, linear warm-up and decay,
weight decay, gradient clipping, seed and maximum lengths:

(a) transformers' documented recipe: the tokenizer on sources and ``text_target``,
    ``DataCollatorForSeq2Seq`` and ``Seq2SeqTrainer``, its defaults otherwise;
(b) the same with ``train_sampling_strategy="group_by_length"`` (what ``group_by_length=True``
    became in transformers 5);
(c) ``warmstart train`` with the README's recipe: the same base rate, plus ``--new-lr`` for the
    weights the warm start initialised.

Then each library generates for the same test sources (greedy, batches of 32): transformers'
``generate`` in file order, warmstart's batched generation (``warmstart generate``'s: sources sorted
by length into batches, outputs back in input order); one ROUGE function (:func:`warmstart.train.metrics.compute_metrics`) scores each. The
training time runs from the data files to the saved model (tokenising, building the model, training,
saving; both libraries are imported before any clock starts); the generation time from the test
sources to the decoded texts. Real tokens are non-pad
tokens: source and label tokens in training (each library's own tokenisation: transformers' labels
start with [CLS]), generated tokens up to and including eos in generation. The training split holds
exactly steps x batch size examples, so every run sees each example once. Writes the figures as JSON
(``--output``). Run alone (``python benchmarks/bench_finetune.py``) or as the opt-in section of
``make bench`` (``BENCH_ARGS=--finetune``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

VARIANTS = {
    "a": "(a) Seq2SeqTrainer",
    "b": "(b) Seq2SeqTrainer, group_by_length",
    "c": "(c) warmstart train",
}
FULL = {"steps": 300, "batch_size": 16, "test_inputs": 400}
QUICK = {"steps": 6, "batch_size": 8, "test_inputs": 32}


# ----------------------------------------------------------------------------------- helpers
def read_jsonl(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["source"], r["target"]) for r in rows]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def generated_tokens(ids: torch.Tensor, eos: int) -> int:
    """Tokens each row generated after its start token, up to and including its first eos."""
    new = ids[:, 1:]  # (B, L-1)
    ended = (new == eos).int().cumsum(1)
    return int(((ended == 0) | ((ended == 1) & (new == eos))).sum())


def generate_all(
    model: Any,
    tok: Any,
    sources: Sequence[str],
    args: argparse.Namespace,
    device: str,
) -> tuple[list[str], int]:
    """Greedy outputs of ``model.generate`` over ``sources`` in file order, ``--gen-batch`` at a
    time; returns the texts and the number of generated tokens."""
    ids = {
        "decoder_start_token_id": tok.cls_token_id,
        "eos_token_id": tok.sep_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    model.eval()
    texts: list[str] = []
    tokens = 0
    with torch.no_grad():
        for start in range(0, len(sources), args.gen_batch):
            batch = tok(
                list(sources[start : start + args.gen_batch]),
                padding=True,
                truncation=True,
                max_length=args.max_source_length,
                return_tensors="pt",
            )
            out = model.generate(
                batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
                max_new_tokens=args.max_new_tokens,
                num_beams=1,
                do_sample=False,
                **ids,
            )
            tokens += generated_tokens(out, tok.sep_token_id)
            texts += tok.batch_decode(out, skip_special_tokens=True)
    return texts, tokens


def generate_warmstart(
    model: Any, tok: Any, sources: Sequence[str], args: argparse.Namespace
) -> tuple[list[str], int]:
    """warmstart's own batched generation (what ``warmstart generate`` and ``evaluate`` run):
    sources in length-sorted batches of ``--gen-batch``, outputs in input order; the texts and
    the number of generated tokens."""
    from warmstart.train.predict import generate_ids
    from warmstart.train.sources import tokenize_sources

    ids = tokenize_sources(list(sources), tok, args.max_source_length, model)
    out = generate_ids(
        model, ids, tok.pad_token_id, args.gen_batch, max_new_tokens=args.max_new_tokens,
        num_beams=1, do_sample=False, decoder_start_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
    )  # fmt: skip
    width = max(len(row) for row in out)
    padded = torch.tensor([row + [tok.pad_token_id] * (width - len(row)) for row in out])
    return tok.batch_decode(out, skip_special_tokens=True), generated_tokens(
        padded, tok.sep_token_id
    )


def padded_share(batches: Sequence[Sequence[tuple[int, int]]]) -> float:
    """Share of pad tokens in batches of (source length, label length) rows, each padded to its
    longest source and longest labels."""
    real = sum(s + t for b in batches for s, t in b)
    padded = sum(len(b) * (max(s for s, _ in b) + max(t for _, t in b)) for b in batches)
    return 1 - real / padded


# ----------------------------------------------------------------------------------- transformers
def train_transformers(
    args: argparse.Namespace, data: dict[str, Path], out: Path, grouped: bool
) -> dict[str, Any]:
    """transformers' documented recipe, from the files to the saved model; returns the model, its
    tokenizer and ``counts``: the run's real tokens, padding share and mean training loss."""
    import transformers as hf

    hf.logging.set_verbosity_error()
    hf.logging.disable_progress_bar()  # its loading and saving bars
    tok = hf.AutoTokenizer.from_pretrained(args.checkpoint)
    pairs = read_jsonl(data["train"])
    sources = tok(
        [s for s, _ in pairs], max_length=args.max_source_length, truncation=True
    )  # lists, padded by the collator
    labels = tok(
        text_target=[t for _, t in pairs], max_length=args.max_target_length, truncation=True
    )
    rows = [
        {"input_ids": i, "attention_mask": m, "labels": y}
        for i, m, y in zip(sources["input_ids"], sources["attention_mask"], labels["input_ids"])
    ]
    torch.manual_seed(args.seed)  # the new cross-attention's initial values
    model = hf.EncoderDecoderModel.from_encoder_decoder_pretrained(args.checkpoint, args.checkpoint)
    model.config.decoder_start_token_id = tok.cls_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.config.eos_token_id = tok.sep_token_id
    for name in ("decoder_start_token_id", "pad_token_id", "eos_token_id"):
        setattr(model.generation_config, name, getattr(model.config, name))
    seen: list[list[tuple[int, int]]] = []
    collator = hf.DataCollatorForSeq2Seq(tok, model=model)

    def counting(features: list[dict]) -> dict:
        seen.append([(len(f["input_ids"]), len(f["labels"])) for f in features])
        return collator(features)

    targs = hf.Seq2SeqTrainingArguments(
        output_dir=str(out),
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        seed=args.seed,
        save_strategy="no",
        logging_steps=args.log_every,
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if grouped else "random",
        use_cpu=args.device == "cpu",
    )
    trainer = hf.Seq2SeqTrainer(
        model=model,
        args=targs,
        train_dataset=rows,
        data_collator=counting,
        processing_class=tok,
    )
    result = trainer.train()
    trainer.save_model(str(out / "model"))

    def counts() -> dict[str, float]:
        return {
            "real_tokens": sum(s + t for b in seen for s, t in b),
            "padding": padded_share(seen),
            "train_loss": result.training_loss,
        }

    return {"model": model, "tokenizer": tok, "counts": counts}


# ----------------------------------------------------------------------------------- warmstart
def warmstart_command(args: argparse.Namespace, data: dict[str, Path], out: Path) -> list[str]:
    """The README's ``warmstart train`` recipe for this data, as command-line words."""
    return [
        "train",
        "--encoder", str(args.checkpoint),
        "--train", str(data["train"]),
        "--output", str(out),
        "--max-steps", str(args.steps),
        "--batch-size", str(args.batch_size),
        "--lr", str(args.lr),
        "--new-lr", str(args.new_lr),
        "--warmup-steps", str(args.warmup_steps),
        "--weight-decay", str(args.weight_decay),
        "--seed", str(args.seed),
        "--max-source-length", str(args.max_source_length),
        "--max-target-length", str(args.max_target_length),
        "--log-every", str(args.log_every),
        "--device", args.device,
        "--no-progress",
    ]  # fmt: skip


def train_warmstart(args: argparse.Namespace, data: dict[str, Path], out: Path) -> dict[str, Any]:
    """``warmstart train`` (the command's own path: its parser, TrainConfig, Trainer), keeping the
    trained model; returns it with its tokenizer and ``counts``: real tokens, padding share and
    mean training loss, found again from its batch plan and metrics.jsonl."""
    from dataclasses import fields

    from warmstart.cli import build_parser
    from warmstart.train import TrainConfig, Trainer
    from warmstart.train.data import plan_batches
    from warmstart.train.metrics import read_records

    parsed = build_parser().parse_args(warmstart_command(args, data, out))
    names = {f.name for f in fields(TrainConfig)}
    trainer = Trainer(TrainConfig(**{k: v for k, v in vars(parsed).items() if k in names}))
    trainer.train()

    def counts() -> dict[str, float]:
        sizes = [(len(e.input_ids), len(e.labels)) for e in trainer.train_set]
        plan, epoch = [], 0  # the batches it ran: its plan, epoch after epoch, up to its steps
        while len(plan) < args.steps:
            epoch_plan = plan_batches(trainer.sizes, args.batch_size, args.seed, epoch, 1)
            plan += epoch_plan[: args.steps - len(plan)]
            epoch += 1
        batches = [[sizes[i] for i in b] for b in plan]
        records = read_records(out / "metrics.jsonl")
        losses = [r["loss"] for r in records if r.get("split") == "train"]
        return {
            "real_tokens": sum(s + t for b in batches for s, t in b),
            "padding": padded_share(batches),
            "train_loss": statistics.mean(losses) if losses else float("nan"),
        }

    return {"model": trainer.model, "tokenizer": trainer.tokenizer, "counts": counts}


# ----------------------------------------------------------------------------------- the race
def run_variant(
    key: str, args: argparse.Namespace, data: dict[str, Path], tmp: Path
) -> dict[str, Any]:
    """Train one variant, then generate over the test sources; times, tokens and scores."""
    from warmstart.train.metrics import compute_metrics

    out = tmp / f"run-{key}"
    print(f"{VARIANTS[key]}: training {args.steps} steps of {args.batch_size}...", flush=True)
    start = time.perf_counter()
    if key == "c":
        run = train_warmstart(args, data, out)
    else:
        run = train_transformers(args, data, out, grouped=key == "b")
    sync(args.device)
    train_s = time.perf_counter() - start
    run.update(run.pop("counts")())  # after the clock: tokens, padding, mean loss
    pairs = read_jsonl(data["test"])[: args.test_inputs]
    start = time.perf_counter()
    sources = [s for s, _ in pairs]
    if key == "c":
        texts, tokens = generate_warmstart(run["model"], run["tokenizer"], sources, args)
    else:
        texts, tokens = generate_all(run["model"], run["tokenizer"], sources, args, args.device)
    sync(args.device)
    gen_s = time.perf_counter() - start
    scores = compute_metrics(texts, [t for _, t in pairs])
    result = {
        "variant": VARIANTS[key],
        "train_s": train_s,
        "train_tokens_per_s": run["real_tokens"] / train_s,
        "train_real_tokens": run["real_tokens"],
        "train_padding": run["padding"],
        "train_loss": run["train_loss"],
        "generate_s": gen_s,
        "generate_tokens_per_s": tokens / gen_s,
        "generated_tokens": tokens,
        "job_s": train_s + gen_s,
        "rougeL": scores["rougeL"],
        "exact_match": scores["exact_match"],
        "samples": texts[:3],
    }
    print(
        f"  trained in {train_s:.1f} s, generated in {gen_s:.1f} s, ROUGE-L {scores['rougeL']:.2f}",
        flush=True,
    )
    return result


def preload(variants: str) -> None:
    """Import each library's training and generation modules before any clock starts: a
    process pays for them once, whichever variant runs first."""
    if set(variants) & {"a", "b"}:
        import transformers as hf

        _ = (hf.Seq2SeqTrainer, hf.DataCollatorForSeq2Seq, hf.EncoderDecoderModel)
    if "c" in variants:
        import warmstart.cli
        import warmstart.train  # noqa: F401
        from warmstart import EncoderDecoderModel  # noqa: F401


def race(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Write the data, run every variant of ``--variants`` in turn, return their figures."""
    from warmstart.data.headlines import write_splits

    preload(args.variants)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {
            "train": args.steps * args.batch_size,
            "eval": 1,
            "test": max(args.test_inputs, 1),
        }
        data = write_splits(Path(tmp) / "data", seed=args.data_seed, sizes=sizes)
        return {key: run_variant(key, args, data, Path(tmp)) for key in args.variants}


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """warmstart's speed-up over each transformers variant (their seconds / ours) and its ROUGE-L
    difference (ours - theirs)."""
    if "c" not in results:
        return {}
    ours = results["c"]
    return {
        key: {
            "train": theirs["train_s"] / ours["train_s"],
            "generate": theirs["generate_s"] / ours["generate_s"],
            "job": theirs["job_s"] / ours["job_s"],
            "rougeL_diff": ours["rougeL"] - theirs["rougeL"],
        }
        for key, theirs in results.items()
        if key != "c"
    }


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The printed rows: one per variant, then warmstart's ratios against each other variant."""
    head = (
        f"{'variant':38} {'train s':>8} {'tok/s':>7} {'pad %':>6} {'loss':>6} {'gen s':>7} "
        f"{'tok/s':>7} {'job s':>8} {'ROUGE-L':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results.values():
        lines.append(
            f"{r['variant']:38} {r['train_s']:8.1f} {r['train_tokens_per_s']:7.0f} "
            f"{100 * r['train_padding']:6.1f} {r['train_loss']:6.3f} {r['generate_s']:7.1f} "
            f"{r['generate_tokens_per_s']:7.0f} {r['job_s']:8.1f} {r['rougeL']:7.2f}"
        )
    for key, r in ratios(results).items():
        lines.append(
            f"warmstart vs {VARIANTS[key]}: train {r['train']:.2f}x, generate "
            f"{r['generate']:.2f}x, whole job {r['job']:.2f}x, ROUGE-L {r['rougeL_diff']:+.2f}"
        )
    return lines


def rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``make bench``'s rows (bench.py's Row fields): warmstart's train, generate and whole-job
    seconds against each transformers variant; the race's own table is printed on the way."""
    results = race(args)
    print("\n".join(table(results)))
    if "c" not in results:
        return []
    ours, out = results["c"], []
    shape = f"{args.steps}x{args.batch_size}"
    for key, theirs in results.items():
        if key == "c":
            continue
        label = "group_by_length" if key == "b" else "Seq2SeqTrainer"
        note = f"vs {label}; ROUGE-L {ours['rougeL']:.2f} vs {theirs['rougeL']:.2f}"
        for phase, name in (("train", f"fine-tune {shape}"), ("generate", "generate"), ("job", "")):
            figure = f"headlines: {name or 'whole job'} vs ({key})"
            out.append(
                {
                    "figure": figure,
                    "unit": "s",
                    "warmstart": ours[f"{phase}_s"],
                    "transformers": theirs[f"{phase}_s"],
                    "note": note,
                }
            )
    return out


# ----------------------------------------------------------------------------------- main
def add_arguments(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The race's options (``prefix`` names them inside bench.py: ``--finetune-steps``...)."""
    p = f"--{prefix}"
    parser.add_argument(f"{p}steps", type=int, default=None, help="optimiser steps (300)")
    parser.add_argument(f"{p}batch-size", type=int, default=None, help="training batch (16)")
    parser.add_argument(f"{p}test-inputs", type=int, default=None, help="test sources (400)")
    parser.add_argument(
        f"{p}variants", default="abc", help="which runs, in order: a, b and/or c (default abc)"
    )
    parser.add_argument(
        f"{p}checkpoint", default=None, help="the BERT both halves start from (the embedded MiniLM)"
    )


def settle(args: argparse.Namespace, quick: bool) -> argparse.Namespace:
    """Fill the defaults: the full race, or ``--quick``'s few steps and inputs."""
    base = QUICK if quick else FULL
    for name, value in base.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    for name in base:
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"{flag} {getattr(args, name)}: pass a positive number.")
    if not set(args.variants) <= set(VARIANTS) or not args.variants:
        raise SystemExit(f"--variants {args.variants!r}: pass letters among a, b, c (say abc).")
    if args.checkpoint is None:
        from warmstart.demo import embedded_checkpoint

        args.checkpoint = str(embedded_checkpoint())
    args.lr, args.new_lr, args.weight_decay, args.seed, args.data_seed = 2e-4, 2e-3, 0.01, 0, 0
    args.warmup_steps = max(1, args.steps // 10)
    args.max_source_length, args.max_target_length, args.max_new_tokens = 160, 32, 32
    args.gen_batch, args.log_every = 32, 10
    args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_finetune", description=__doc__.split("\n")[0])
    add_arguments(parser)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--output", default="bench_results/finetune.json")
    parser.add_argument(
        "--quick", action="store_true", help="a few steps and inputs (a smoke test)"
    )
    args = parser.parse_args(argv)
    return settle(args, args.quick)


def main(argv: list[str] | None = None, write: Callable[[str], None] = print) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = race(args)
    write(
        f"\nFine-tuning race: MiniLM bert2bert, headlines data, {args.steps} steps of "
        f"{args.batch_size}, {args.test_inputs} test inputs greedy in batches of {args.gen_batch}, "
        f"{args.device}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    write("\n".join(table(results)))
    data = {
        "settings": {
            k: v for k, v in vars(args).items() if isinstance(v, (int, float, str)) or v is None
        },
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "results": results,
        "ratios": ratios(results),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(data, indent=2) + "\n")
    write(f"written to {output}")
    return data


if __name__ == "__main__":
    main()
