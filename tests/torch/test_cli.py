"""The `warmstart` command: train (metrics, plot, model), evaluate and generate on a tiny model."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import torch
from train.tiny import tiny_bert, train_args, write_data

from warmstart import EncoderDecoderModel
from warmstart.cli import build_parser, main
from warmstart.train.metrics import METRIC_NAMES, compute_metrics

STEPS = ("--max-steps", "90", "--lr", "1e-2", "--eval-every", "45", "--log-every", "10")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and steadier on a busy machine
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny bert2bert fitted to 12 sentence-fusion pairs, evaluated on them while training."""
    root = tmp_path_factory.mktemp("cli")
    words = write_data(root / "data", {"train": 12})
    bert = tiny_bert(root / "bert", words, dropout=0.0)
    out = root / "out"
    data = root / "data"
    main(train_args(bert, data, out, "--eval", str(data / "train.jsonl"), *STEPS))
    return out


def cli(*args: object) -> None:
    """`warmstart ARGS...`; generation stays within the tiny BERT's 64 positions."""
    main(
        [*map(str, args), "--max-new-tokens", "40"] if args[0] != "train" else list(map(str, args))
    )


def sources(run: Path) -> list[str]:
    data = run.parent / "data" / "train.jsonl"
    return [json.loads(line)["source"] for line in data.read_text().splitlines()]


def test_help_lists_the_subcommands_and_train_options():
    parser = build_parser()
    assert {"train", "evaluate", "generate", "bench"} <= set(
        parser._subparsers._group_actions[0].choices
    )
    train = parser._subparsers._group_actions[0].choices["train"].format_help()
    for flag in (
        "--encoder",
        "--decoder",
        "--model",
        "--train",
        "--eval",
        "--output",
        "--max-steps",
        "--epochs",
        "--batch-size",
        "--grad-accum",
        "--lr",
        "--warmup-steps",
        "--weight-decay",
        "--max-source-length",
        "--max-target-length",
        "--eval-every",
        "--save-every",
        "--keep-last",
        "--best-metric",
        "--seed",
        "--bf16",
        "--gradient-checkpointing",
        "--tie-encoder-decoder",
        "--num-beams",
        "--max-new-tokens",
        "--resume",
        "--source-field",
        "--target-field",
    ):
        assert flag in train, flag


def test_train_writes_metrics_plot_and_model(run: Path):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [45, 90]
    assert set(METRIC_NAMES) | {"eval_loss"} <= set(evals[-1])
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    assert evals[-1]["rouge1"] > 50  # it has learnt its 12 training pairs
    train = [r for r in rows if r["split"] == "train"]
    assert [r["step"] for r in train] == [*range(10, 91, 10)]
    assert {"loss", "lr", "tokens_per_s", "epoch"} <= set(train[0])
    assert (run / "training.png").read_bytes()[:4] == b"\x89PNG"
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {
        p.name for p in (run / "model").iterdir()
    }
    model = EncoderDecoderModel.from_pretrained(run / "model")
    assert model.config.decoder_start_token_id == 2 and model.config.eos_token_id == 3  # cls, sep


def test_evaluate_command(run: Path, tmp_path: Path):
    out, preds = tmp_path / "m.json", tmp_path / "p.txt"
    data = run.parent / "data" / "train.jsonl"
    cli(
        "evaluate",
        "--model",
        str(run / "model"),
        "--data",
        str(data),
        "--output",
        str(out),
        "--predictions",
        str(preds),
        "--batch-size",
        "5",
    )
    metrics = json.loads(out.read_text())
    final = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    for name in (*METRIC_NAMES, "eval_loss"):
        assert metrics[name] == pytest.approx(final[name], abs=1e-4), name
    assert len(preds.read_text().splitlines()) == 12


def test_generate_keeps_input_order(run: Path, tmp_path: Path, capsys):
    texts = sources(run)
    texts = texts[::2] + texts[1::2]  # lengths in no particular order
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    model = str(run / "model")
    cli(
        "generate",
        "--model",
        model,
        "--input",
        str(tmp_path / "in.txt"),
        "--batch-size",
        "4",
        "--output",
        str(tmp_path / "batched.txt"),
    )
    batched = (tmp_path / "batched.txt").read_text().splitlines()
    one_by_one = []
    for text in texts:
        (tmp_path / "one.txt").write_text(text + "\n")
        cli("generate", "--model", model, "--input", str(tmp_path / "one.txt"), "--batch-size", "1")
        one_by_one.append(capsys.readouterr().out.rstrip("\n"))
    assert batched == one_by_one
    assert len(set(batched)) > len(texts) // 2  # different inputs, different outputs
    targets = [
        json.loads(line)["target"]
        for line in (run.parent / "data" / "train.jsonl").read_text().splitlines()
    ]
    targets = targets[::2] + targets[1::2]
    aligned = compute_metrics(batched, targets)["rouge1"]
    assert aligned > compute_metrics(batched, targets[1:] + targets[:1])["rouge1"] + 10


def test_generate_reads_stdin_and_samples_reproducibly(run: Path, monkeypatch, capsys):
    outputs = []
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(sources(run)[:3]) + "\n"))
        cli(
            "generate",
            "--model",
            str(run / "model"),
            "--input",
            "-",
            "--do-sample",
            "--top-k",
            "5",
            "--temperature",
            "1.5",
            "--seed",
            "3",
            "--no-repeat-ngram-size",
            "2",
        )
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 3


def test_continue_from_a_saved_model(run: Path, tmp_path: Path):
    data = run.parent / "data"
    cli(
        "train",
        "--model",
        str(run / "model"),
        "--train",
        str(data / "train.jsonl"),
        "--output",
        str(tmp_path / "more"),
        "--max-steps",
        "2",
        "--no-progress",
    )
    assert (tmp_path / "more" / "model" / "model.safetensors").is_file()


def test_bad_data_is_a_clear_error(run: Path, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "a", "target": "b"}\n{"source": "a"}\n')
    with pytest.raises(SystemExit, match=r"bad\.jsonl, line 2: missing field 'target'"):
        main(["evaluate", "--model", str(run / "model"), "--data", str(bad)])


@pytest.mark.parametrize("command", ["train", "generate"])
def test_cuda_without_a_gpu_is_a_clear_error(run: Path, tmp_path: Path, monkeypatch, command):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if command == "train":
        args = train_args(run.parent / "bert", run.parent / "data", tmp_path / "o")
    else:
        (tmp_path / "in.txt").write_text("a sentence.\n")
        args = ["generate", "--model", str(run / "model"), "--input", str(tmp_path / "in.txt")]
        args += ["--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit, match=rf"warmstart {command}: error: .*no CUDA.*--device cpu"):
        main([*args, "--device", "cuda"])
    assert not (tmp_path / "o").exists()  # nothing half-written
    with pytest.raises(SystemExit, match=r"--device 'gpu' is not a device torch knows"):
        main([*args, "--device", "gpu"])


def test_tie_encoder_decoder_ties_or_fails_clearly(run: Path, tmp_path: Path):
    bert = run.parent / "bert"
    args = train_args(
        bert, run.parent / "data", tmp_path / "tied", "--tie-encoder-decoder", "--max-steps", "1"
    )
    try:
        main(args)
    except SystemExit as err:
        assert "--tie-encoder-decoder" in str(err) and "does not tie" in str(err)
        return
    model = EncoderDecoderModel.from_pretrained(tmp_path / "tied" / "model")
    assert model.config.tie_encoder_decoder
    enc = model.encoder.encoder.layer[0].attention.self.query.weight
    assert enc is model.decoder.bert.encoder.layer[0].attention.self.query.weight


def test_bench_passes_its_options_to_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: warmstart bench" in out and "--quick" in out and "--trained" in out


def test_bench_outside_a_checkout_says_what_to_do(monkeypatch, tmp_path: Path):
    import warmstart.cli as cli

    monkeypatch.setattr(cli, "BENCH_SCRIPT", tmp_path / "bench.py")
    with pytest.raises(SystemExit, match="make bench"):
        main(["bench"])


def test_unknown_options_of_other_commands_still_fail(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--model", "m", "--input", "-", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options",
    [
        ("--quantize", "int8"),
        ("--quantize", "bf16"),
        ("--dtype", "bfloat16"),
        ("--compile",),
        ("--prompt-lookup", "4"),
    ],
)
def test_generate_in_reduced_precision_or_compiled(run: Path, tmp_path: Path, options):
    """One option picks the precision or compiles; outputs stay those of the full-precision model
    (compiled: all of them; reduced precision: nearly all, on a model fitted to these inputs)."""
    (tmp_path / "in.txt").write_text("\n".join(sources(run)) + "\n")
    outputs = {}
    for name, extra in (("plain", ()), ("fast", options)):
        out = tmp_path / f"{name}.txt"
        cli(
            "generate",
            "--model",
            run / "model",
            "--input",
            tmp_path / "in.txt",
            "--output",
            out,
            *extra,
        )
        outputs[name] = out.read_text().splitlines()
    same = sum(a == b for a, b in zip(outputs["plain"], outputs["fast"], strict=True))
    exact = options in (("--compile",), ("--prompt-lookup", "4"))
    assert same == 12 if exact else same >= 10


def test_evaluate_with_int8_weights(run: Path, tmp_path: Path):
    data = run.parent / "data" / "train.jsonl"
    scores = {}
    for name, extra in (("fp32", ()), ("int8", ("--quantize", "int8"))):
        out = tmp_path / f"{name}.json"
        cli("evaluate", "--model", run / "model", "--data", data, "--output", out, *extra)
        scores[name] = json.loads(out.read_text())
    assert scores["int8"]["rougeL"] == pytest.approx(scores["fp32"]["rougeL"], abs=5.0)
    assert scores["int8"]["eval_loss"] == pytest.approx(scores["fp32"]["eval_loss"], rel=0.1)


def test_unknown_precision_is_refused(run: Path, capsys):
    with pytest.raises(SystemExit):
        cli("generate", "--model", run / "model", "--input", "-", "--quantize", "int4")
    assert "invalid choice: 'int4'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, check",
    [
        (("--quantize", "int8"), lambda m: m.quantized == "int8"),
        (("--quantize", "bf16"), lambda m: m.quantized == "bf16"),
        (
            ("--dtype", "bfloat16"),
            lambda m: m.encoder.embeddings.word_embeddings.weight.dtype == torch.bfloat16,
        ),
        (("--compile",), lambda m: {"compiled_step", "compiled_encoder"} <= set(m.__dict__)),
        ((), lambda m: getattr(m, "quantized", None) is None and "compiled_step" not in m.__dict__),
    ],
)
def test_the_precision_and_compile_options_reach_the_model(run: Path, options, check):
    from warmstart.cli import load_model

    args = build_parser().parse_args(
        ["generate", "--model", str(run / "model"), "--input", "-", *options]
    )
    model, _ = load_model(args)
    assert check(model)


def test_help_shows_every_default(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping (argparse breaks lines at hyphens)
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    train = " ".join(commands["train"].format_help().split("options:")[1].split())
    for shown in (
        "--lr LR peak learning rate of AdamW (default: 5e-05)",
        "examples per process per micro-batch (default: 8)",
        "optimiser steps to run (0: --epochs decides) (default: 0)",
        "steps of linear warm-up before the linear decay (default: 0)",
        "checkpoints to keep besides the best one (default: 2)",
        "log the training loss every N steps (default: 10)",
    ):
        assert shown in train, shown
    assert "--progress, --no-progress" in train
    assert parser.parse_args(["train"]).progress is None  # a bar on a terminal, lines elsewhere
    for name in ("evaluate", "generate"):
        text = " ".join(commands[name].format_help().split())
        assert "inputs per generate call (default: 16)" in text
        assert "(default: 512)" in text and "(default: 64)" in text


@pytest.mark.parametrize(
    "command, option, value, says",
    [
        ("generate", "--batch-size", "0", "must be at least 1, not 0"),
        ("generate", "--num-beams", "0", "must be at least 1, not 0"),
        ("generate", "--max-new-tokens", "-3", "must be at least 1, not -3"),
        ("generate", "--top-p", "1.5", "must be at most 1, not 1.5"),
        ("generate", "--temperature", "0", "must be more than 0, not 0"),
        ("generate", "--prompt-lookup", "0", "must be at least 1, not 0"),
        ("evaluate", "--max-samples", "0", "must be at least 1, not 0"),
        ("evaluate", "--max-source-length", "x", "expected a whole number, got 'x'"),
    ],
)
def test_numeric_options_are_checked(capsys, command, option, value, says):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--model", "m", "--input", "-", "--data", "d.jsonl", option, value])
    assert exit_.value.code == 2
    assert f"argument {option}: {says}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--lr", "0", "--lr must be more than 0, not 0.0"),
        ("--new-lr", "-1", "--new-lr must be more than 0, not -1.0"),
        ("--batch-size", "0", "--batch-size must be at least 1, not 0"),
        ("--keep-last", "-1", "--keep-last must be at least 0, not -1"),
        ("--log-every", "0", "--log-every must be at least 1, not 0"),
        ("--lr", "inf", "--lr must be a finite number, not inf"),
        ("--max-grad-norm", "nan", "--max-grad-norm must be a finite number, not nan"),
    ],
)
def test_numeric_train_options_are_checked(tmp_path: Path, option, value, says):
    args = train_args(tmp_path / "bert", tmp_path / "data", tmp_path / "out", option, value)
    with pytest.raises(SystemExit, match=f"^warmstart train: error: {says}.$"):
        main(args)
    assert not (tmp_path / "out").exists()


def test_an_input_longer_than_the_positions_names_the_option(run: Path, tmp_path: Path):
    (tmp_path / "in.txt").write_text(" ".join(["mary"] * 100) + "\n")
    args = ["generate", "--model", run / "model", "--input", tmp_path / "in.txt"]
    with pytest.raises(SystemExit) as failed:
        cli(*args, "--max-source-length", "100")
    message = str(failed.value)
    assert "allows at most 64" in message and "--max-source-length 64" in message
    assert "tokenizer(" not in message and "\n" not in message


def test_generate_and_evaluate_warn_when_they_truncate_a_source(run: Path, tmp_path: Path, caplog):
    (tmp_path / "in.txt").write_text(" ".join(["mary"] * 30) + "\nmary\n")
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        cli("generate", "--model", run / "model", "--input", tmp_path / "in.txt",
            "--max-source-length", "8", "--output", tmp_path / "out.txt")  # fmt: skip
    said = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(said) == 1 and "1 of 2 inputs" in said[0] and "--max-source-length 8" in said[0]
    assert "pass a larger --max-source-length" in said[0] and "at most 64" in said[0]
    data = run.parent / "data" / "train.jsonl"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        cli("evaluate", "--model", run / "model", "--data", data, "--max-source-length", "8",
            "--output", tmp_path / "m.json")  # fmt: skip
    said = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert len(said) == 1 and "of 12 sources" in said[0] and "pass a larger" in said[0]


def test_paths_of_the_wrong_kind_are_one_line(run: Path, tmp_path: Path):
    (tmp_path / "in.txt").write_text("mary\n")
    cases = {
        "is a file": ["generate", "--model", run / "model" / "config.json", "--input",
                      tmp_path / "in.txt"],
        "is a folder": ["generate", "--model", run / "model", "--input", tmp_path],
        "no such file": ["generate", "--model", run / "model", "--input", tmp_path / "none.txt"],
    }  # fmt: skip
    for says, args in cases.items():
        with pytest.raises(SystemExit) as failed:
            cli(*args)
        message = str(failed.value)
        assert says in message and "\n" not in message and message.startswith("warmstart")


def test_ids_the_model_cannot_read_are_one_line(run: Path):
    model = EncoderDecoderModel.from_pretrained(run / "model")
    vocab = model.config.encoder.vocab_size
    with pytest.raises(ValueError, match=r"input_ids has no tokens \(shape \(1, 0\)\)"):
        model.generate(torch.zeros((1, 0), dtype=torch.long), max_new_tokens=3)
    with pytest.raises(ValueError, match="negative id -3"):
        model.generate(torch.tensor([[5, -3]]), max_new_tokens=3)
    with pytest.raises(ValueError, match="negative id -3"):
        model(input_ids=torch.tensor([[5, -3]]), labels=torch.tensor([[5, -100]]))
    with pytest.raises(ValueError, match="decoder_input_ids holds the negative id -7"):
        model(input_ids=torch.tensor([[5, 6]]), decoder_input_ids=torch.tensor([[-7, 2]]))
    with pytest.raises(ValueError, match=f"input_ids holds the id {vocab}, beyond this model's"):
        model.generate(torch.tensor([[5, vocab]]), max_new_tokens=3)
    with pytest.raises(ValueError, match=f"decoder_input_ids holds the id {vocab + 2}, beyond"):
        model(input_ids=torch.tensor([[5, 6]]), decoder_input_ids=torch.tensor([[vocab + 2, 2]]))
    from warmstart.train.predict import generate_ids

    with pytest.raises(ValueError, match=f"token id {vocab}, beyond the encoder's vocabulary"):
        generate_ids(model, [[2, vocab]], pad_token_id=0, max_new_tokens=3)


def test_a_full_disk_while_saving_is_one_line(run: Path, tmp_path: Path, monkeypatch):
    import warmstart.torch.weights

    model = EncoderDecoderModel.from_pretrained(run / "model")
    model.save_pretrained(tmp_path / "saved")
    before = (tmp_path / "saved" / "model.safetensors").read_bytes()

    def full(*args, **kwargs):
        from safetensors import SafetensorError

        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: '
                              'StorageFull, message: "No space left on device" })')  # fmt: skip

    monkeypatch.setattr(warmstart.torch.weights, "save_file", full)
    with pytest.raises(OSError, match="No space left on the device writing .*saved") as failed:
        model.save_pretrained(tmp_path / "saved")
    assert "\n" not in str(failed.value)
    assert (tmp_path / "saved" / "model.safetensors").read_bytes() == before  # old files kept
