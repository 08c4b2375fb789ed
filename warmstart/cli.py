"""The ``warmstart`` command: ``train``, ``evaluate``, ``generate``, ``export`` and ``bench``
subcommands.

Each subcommand is a thin layer over the Python API (:class:`warmstart.train.Trainer`,
:func:`warmstart.train.evaluate`, :func:`warmstart.train.generate_texts`); ``train``'s options are
built from :class:`warmstart.train.TrainConfig`'s fields. Under ``torchrun`` ``train`` runs
data-parallel. ``bench`` runs ``benchmarks/bench.py`` of a source checkout (``make bench``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import re
import shlex
import sys
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from .hub import write_text_atomic
from .train.config import TrainConfig
from .train.data import DataError, read_text

INTERRUPTED = 130  # the shell's status of a process stopped by Ctrl-C (128 + SIGINT)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default in ("", argparse.SUPPRESS)
        if "default" in text or hidden:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def at_least(low: int):
    """An argparse type: an integer not below ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def probability(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be at most 1, not {text}")
    return value


# ------------------------------------------------------------------ train
def _field_type(hint: Any) -> type:
    """``int | None`` -> int."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field, named ``--field-name`` unless its metadata says otherwise."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        kind = _field_type(hints[f.name])
        default = None if f.default is MISSING else f.default
        if kind is bool:
            parse = {"action": "store_true" if default is False else argparse.BooleanOptionalAction}
        else:
            parse = {"type": kind}
        parser.add_argument(flag, dest=f.name, default=default, help=f.metadata["help"], **parse)


def run_train(args: argparse.Namespace) -> None:
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    from .train.progress import summary_lines

    if args.framework != "torch":
        from .train.frameworks import train_with

        done = train_with(config, args.framework)
        print(f"Trained with {done['framework']}.")
        print("\n".join(summary_lines(done)))
        return
    from .train import Trainer

    trainer = Trainer(config)
    trainer.train()
    if trainer.summary:
        print("\n".join(summary_lines(trainer.summary)))


def interrupted(args: argparse.Namespace, argv: list[str]) -> str:
    """What to say after Ctrl-C: for ``train``, the latest checkpoint and the command resuming it."""
    if args.command != "train":
        return f"warmstart {args.command}: interrupted."
    from .train.checkpoint import list_checkpoints

    found = list_checkpoints(args.output_dir) if args.output_dir else []
    words = [w for w in argv if w not in ("--resume", "--overwrite-output-dir")]
    if not found:
        return (
            "warmstart train: interrupted before any checkpoint was written (--save-every N "
            f"writes them). Start over with:\n  warmstart {shlex.join(words)} --overwrite-output-dir"
        )
    return (
        f"warmstart train: interrupted; the latest checkpoint is {found[-1][1]} (step "
        f"{found[-1][0]}). Continue with:\n  warmstart {shlex.join(words)} --resume"
    )


def one_line(command: str, err: BaseException) -> str:
    """The error as the command line says it: its options named where the message names Python."""
    text = str(err)
    too_long = re.search(r"The input has (\d+) tokens but this .* allows at most (\d+)", text)
    if too_long:
        text = (
            f"an input has {too_long.group(1)} tokens but the model's encoder allows at most "
            f"{too_long.group(2)}: pass --max-source-length {too_long.group(2)} (or less)."
        )
    return f"warmstart {command}: error: {text}"


# ------------------------------------------------------------------ shared by evaluate/generate
def add_generation_arguments(parser: argparse.ArgumentParser, sampling: bool) -> None:
    one, zero = at_least(1), at_least(0)
    parser.add_argument("--batch-size", type=one, default=16, help="inputs per generate call")
    parser.add_argument(
        "--max-source-length", type=one, default=512, help="most source tokens (longer: truncated)"
    )
    parser.add_argument("--num-beams", type=one, default=1, help="beams (1: greedy)")
    parser.add_argument("--max-new-tokens", type=one, default=64, help="most tokens to generate")
    parser.add_argument(
        "--no-repeat-ngram-size", type=zero, default=0, help="forbid repeated n-grams (0: off)"
    )
    parser.add_argument("--length-penalty", type=float, default=None, help="beam length penalty")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument(
        "--quantize", choices=("int8", "bf16"), default=None, help="decoder weights for inference"
    )
    parser.add_argument("--dtype", choices=DTYPES, default=None, help="the whole model's dtype")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the encoder and the decoding step"
    )
    parser.add_argument(
        "--prompt-lookup",
        type=one,
        default=None,
        metavar="N",
        help="greedy search checking up to N tokens guessed from the source per decoder pass "
        "(prompt lookup decoding; one input at a time; the same outputs, faster on copy-heavy "
        "tasks)",
    )
    if sampling:
        parser.add_argument("--do-sample", action="store_true", help="sample instead of search")
        parser.add_argument("--top-k", type=zero, default=None, help="sample from the k best")
        parser.add_argument("--top-p", type=probability, default=None, help="nucleus mass")
        parser.add_argument(
            "--temperature", type=positive_float, default=None, help="sampling temperature"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed of sampling")


def generation_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``generate`` options given on the command line (unset ones left to the model)."""
    kwargs: dict[str, Any] = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens}
    if args.no_repeat_ngram_size:
        kwargs["no_repeat_ngram_size"] = args.no_repeat_ngram_size
    for name in ("length_penalty", "top_k", "top_p", "temperature"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    if getattr(args, "do_sample", False):
        kwargs["do_sample"] = True
    if args.prompt_lookup is not None:
        kwargs["prompt_lookup_num_tokens"] = args.prompt_lookup
    return kwargs


DTYPES = ("float32", "bfloat16")
"""``--dtype`` choices: torch dtypes by name (``from_pretrained`` takes the name)."""


ONNX_MANIFEST = "onnx_export.json"
"""The file that marks a folder written by ``warmstart export`` (read by :mod:`warmstart.onnx`)."""


def exported(args: argparse.Namespace) -> bool:
    """Whether ``--model`` names a folder that ``warmstart export`` wrote."""
    return (Path(args.model) / ONNX_MANIFEST).is_file()


def load_exported(args: argparse.Namespace) -> tuple[Any, Any]:
    """The exported model ``args.model`` on onnxruntime and its tokenizer, special tokens set."""
    from . import AutoTokenizer
    from .onnx import ORTEncoderDecoderModel
    from .train import configure_special_tokens

    for option in ("quantize", "dtype", "compile", "device", "prompt_lookup"):
        if getattr(args, option, None):
            raise ValueError(
                f"--{option.replace('_', '-')} does not apply to an exported ONNX folder; leave "
                "it out (export with `warmstart export --quantize int8` for int8 weights)."
            )
    model = ORTEncoderDecoderModel.from_pretrained(args.model)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    configure_special_tokens(model, tokenizer)
    return model, tokenizer


def load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """The saved encoder-decoder ``args.model`` and its tokenizer, special tokens set, in eval mode,
    in the precision and on the device the options ask for (an exported folder: on onnxruntime)."""
    if exported(args):
        return load_exported(args)
    from . import AutoTokenizer, EncoderDecoderModel
    from .train import configure_special_tokens, distributed

    if Path(args.model).is_file():
        raise ValueError(
            f"--model {args.model} is a file: pass the folder holding it (the OUTPUT/model "
            "folder of `warmstart train`, or one written by save_pretrained)."
        )
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    options = {"quantize": args.quantize}
    if args.dtype:
        options["dtype"] = args.dtype
    model = EncoderDecoderModel.from_pretrained(args.model, **options)
    configure_special_tokens(model, tokenizer)
    model = model.to(distributed.pick_device(args.device)).eval()
    if args.compile:
        model.compile_decoder().compile_encoder()
    return model, tokenizer


def write_text(path: str | None, text: str) -> None:
    """Write to ``path`` (atomically), or to stdout when it is None or "-"."""
    if path in (None, "-"):
        sys.stdout.write(text)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, text)


# ------------------------------------------------------------------ evaluate
def run_evaluate(args: argparse.Namespace) -> None:
    from .train.data import read_pairs, tokenize_pairs

    pairs = read_pairs(args.data, args.source_field, args.target_field)[: args.max_samples]
    model, tokenizer = load_model(args)  # after the data: a bad file is told at once
    if exported(args):
        from .onnx.predict import evaluate
    else:
        from .train.predict import evaluate
    examples = tokenize_pairs(
        pairs,
        tokenizer,
        args.max_source_length,
        args.max_target_length,
        model.config.eos_token_id,
        name=Path(args.data).name,
    )
    options = {} if exported(args) else {"progress": True}
    metrics, predictions = evaluate(
        model,
        tokenizer,
        [e.input_ids for e in examples] if exported(args) else examples,
        [t for _, t in pairs],
        batch_size=args.batch_size,
        **options,
        **generation_kwargs(args),
    )
    write_text(args.output, json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    if args.predictions:
        write_text(args.predictions, "".join(p + "\n" for p in predictions))


# ------------------------------------------------------------------ generate
def read_sources(path: str) -> list[str]:
    """One source per line from a file, or from stdin for "-"."""
    if path != "-" and Path(path).is_dir():
        raise ValueError(
            f"--input {path} is a folder: pass a text file, one source per line (or -)."
        )
    if path != "-" and not Path(path).is_file():
        raise ValueError(f"--input {path}: no such file; pass a text file, one source per line.")
    text = sys.stdin.read() if path == "-" else read_text(Path(path))
    return text.splitlines()


def run_generate(args: argparse.Namespace) -> None:
    sources = read_sources(args.input)  # before the model: a bad --input is told at once
    model, tokenizer = load_model(args)
    kwargs = generation_kwargs(args)
    if exported(args):
        import numpy as np

        from .onnx.predict import generate_texts

        kwargs["generator"] = np.random.default_rng(args.seed)
    else:
        import torch

        from .train.predict import generate_texts

        torch.manual_seed(args.seed)
        kwargs["progress"] = True
    outputs = generate_texts(
        model,
        tokenizer,
        sources,
        batch_size=args.batch_size,
        max_source_length=args.max_source_length,
        **kwargs,
    )
    write_text(args.output, "".join(o.replace("\n", " ") + "\n" for o in outputs))


# ------------------------------------------------------------------ export
def run_export(args: argparse.Namespace) -> None:
    """Export a saved model to ONNX graphs for :mod:`warmstart.onnx` (needs torch and onnx)."""
    from . import AutoTokenizer, EncoderDecoderModel, hub
    from .torch.export import export_onnx
    from .train import configure_special_tokens

    folder = hub.resolve(args.model)
    model = EncoderDecoderModel.from_pretrained(folder)
    if any((folder / name).is_file() for name in ("tokenizer.json", "vocab.txt", "vocab.json")):
        configure_special_tokens(model, AutoTokenizer.from_pretrained(folder))
    out = export_onnx(model, args.output, quantize=args.quantize, source=folder)
    print(f"exported {args.model} to {out} ({args.quantize or 'fp32'})", file=sys.stderr)


# ------------------------------------------------------------------ bench
BENCH_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


def run_bench(args: argparse.Namespace) -> None:
    """Run the side-by-side benchmark with the remaining arguments (``warmstart bench --help``)."""
    if not BENCH_SCRIPT.is_file():
        raise SystemExit(
            "warmstart bench: error: the benchmark ships with the source, not the package; "
            "in a checkout of warmstart run `make bench` (or `warmstart bench` from there)."
        )
    if importlib.util.find_spec("transformers") is None:
        raise SystemExit(
            "warmstart bench: error: the benchmark compares with transformers, which is not "
            "installed: pip install -e '.[test]' (or run `make bench`)."
        )
    spec = importlib.util.spec_from_file_location("warmstart_bench", BENCH_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.main(args.bench_args)


# ------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmstart", description="Fine-tune, evaluate and run warm-started seq2seq models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="fine-tune an encoder-decoder", formatter_class=HelpFormatter
    )
    add_config_arguments(train)
    train.add_argument(
        "--framework",
        choices=("torch", "tf", "flax"),
        default="torch",
        help="train with PyTorch (every option), or TensorFlow / Flax (a short loop: data, steps, "
        "learning rate, batch size, seed)",
    )
    train.set_defaults(run=run_train)

    evaluate = sub.add_parser(
        "evaluate", help="score a saved model on a data file", formatter_class=HelpFormatter
    )
    evaluate.add_argument("--model", required=True, help="saved model folder or repo id")
    evaluate.add_argument("--data", required=True, help=".jsonl, .csv or .tsv file")
    evaluate.add_argument("--output", default=None, help="metrics JSON file (default: stdout)")
    evaluate.add_argument("--predictions", default=None, help="write generated texts here")
    evaluate.add_argument("--source-field", default="source", help="source field or column")
    evaluate.add_argument("--target-field", default="target", help="target field or column")
    evaluate.add_argument(
        "--max-target-length",
        type=at_least(2),
        default=512,
        help="most target tokens, eos included",
    )
    evaluate.add_argument("--max-samples", type=at_least(1), default=None, help="score the first N")
    add_generation_arguments(evaluate, sampling=False)
    evaluate.set_defaults(run=run_evaluate)

    generate = sub.add_parser(
        "generate", help="generate one output per input line", formatter_class=HelpFormatter
    )
    generate.add_argument("--model", required=True, help="saved model folder or repo id")
    generate.add_argument("--input", required=True, help="one source per line; - for stdin")
    generate.add_argument("--output", default=None, help="output file (default: stdout)")
    add_generation_arguments(generate, sampling=True)
    generate.set_defaults(run=run_generate)

    export = sub.add_parser(
        "export",
        help="export a saved model to ONNX for onnxruntime (warmstart.onnx)",
        formatter_class=HelpFormatter,
    )
    export.add_argument("--model", required=True, help="saved model folder or repo id")
    export.add_argument("--output", required=True, help="folder to write the export to")
    export.add_argument(
        "--quantize", choices=("int8",), default=None, help="int8 weights (default: fp32)"
    )
    export.set_defaults(run=run_export)

    bench = sub.add_parser(
        "bench", help="time warmstart against transformers (a source checkout)", add_help=False
    )
    bench.set_defaults(run=run_bench)  # its options are the benchmark's own: see main
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``warmstart`` console command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        args.bench_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("warmstart").setLevel(logging.INFO)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print(interrupted(args, argv), file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
    except (DataError, ImportError, NotImplementedError, ValueError, OSError) as err:
        raise SystemExit(one_line(args.command, err)) from err


if __name__ == "__main__":
    main()
