"""`warmstart train` and its output folder: one run per folder, files others can read, progress,
and one-line errors for Ctrl-C and a full disk."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest
from tiny import train_args

import warmstart.torch.weights
from warmstart.cli import main
from warmstart.train import Trainer
from warmstart.train.progress import Progress


def run_files(out: Path) -> set[str]:
    return {p.name for p in out.iterdir()}


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_second_run_into_the_same_folder_is_refused_then_overwritten(
    tmp_path, bert_nodrop_dir, data_dir, caplog
):
    out = tmp_path / "out"
    first = train_args(bert_nodrop_dir, data_dir, out, "--save-every", "4", "--keep-last", "1")
    main(first)
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(SystemExit) as refused:
        main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "4", "--seed", "8"))
    message = str(refused.value)
    assert "\n" not in message and "--resume" in message and "--overwrite-output-dir" in message
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing touched

    main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "6", "--log-every", "2",
                    "--save-every", "4", "--overwrite-output-dir"))  # fmt: skip
    assert [r["step"] for r in rows(out)] == [2, 4, 6]  # the new run's records only
    assert {"checkpoint-6", "model", "metrics.jsonl", "training.png"} <= run_files(out)
    assert "checkpoint-8" not in run_files(out)  # the first run's checkpoint went with it
    assert any("--overwrite-output-dir: deleted" in r.getMessage() for r in caplog.records)


def test_stale_temporary_folders_are_removed_and_files_readable_by_others(
    tmp_path, bert_nodrop_dir, data_dir
):
    """Saved folders and files get the modes the umask gives, not mkdtemp's 0700 / mkstemp's 0600."""
    out = tmp_path / "out"
    stale = out / ".model.tmp-k1ll3d"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    (out / ".checkpoint-4.tmp-k1ll3d").mkdir()
    (out / "notes.txt").write_text("mine")  # not a run file: kept
    old = os.umask(0o022)
    try:
        main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "4", "--save-every", "4",
                        "--eval", str(data_dir / "eval.jsonl")))  # fmt: skip
    finally:
        os.umask(old)
    assert not stale.exists() and not (out / ".checkpoint-4.tmp-k1ll3d").exists()
    assert (out / "notes.txt").read_text() == "mine"
    checked = 0
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        want = 0o755 if path.is_dir() else 0o644
        assert mode == want, f"{path.relative_to(out)}: {oct(mode)}"
        checked += 1
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert {"model/model.safetensors", "checkpoint-4/optimizer.pt", "training.png"} <= names
    assert "tensorboard" in names and checked > 20


def test_ctrl_c_stops_cleanly_naming_the_checkpoint_and_resume_command(
    tmp_path, bert_nodrop_dir, data_dir, monkeypatch, capsys
):
    out = tmp_path / "out"
    steps = []

    def interrupt(self, step, *rest):
        steps.append(step)
        if step == 6:
            raise KeyboardInterrupt
        return original(self, step, *rest)

    original = Trainer._after_step
    monkeypatch.setattr(Trainer, "_after_step", interrupt)
    args = train_args(bert_nodrop_dir, data_dir, out, "--save-every", "4")
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(out / "checkpoint-4") in err
    command = err.strip().splitlines()[-1].split()
    assert command[0] == "warmstart" and command[1:] == [*args, "--resume"]
    monkeypatch.setattr(Trainer, "_after_step", original)
    main(command[1:])  # the command it printed continues the run
    assert [r["step"] for r in rows(out) if r["split"] == "train"] == [8]


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        # safetensors' SafetensorError (an Exception) says it so:
        Exception(
            "Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
            'message: "No space left on device" })'
        ),
    ],
)
def test_full_disk_is_one_line_and_leaves_nothing_half_written(
    tmp_path, bert_nodrop_dir, data_dir, monkeypatch, error
):
    out = tmp_path / "out"
    real, calls = warmstart.torch.weights.save_file, []

    def save_file(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # checkpoint-2 fits, checkpoint-4 does not
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(warmstart.torch.weights, "save_file", save_file)
    with pytest.raises(SystemExit) as failed:
        main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "4", "--save-every", "2"))
    message = str(failed.value)
    assert "\n" not in message and "No space left" in message and "checkpoint-4" in message
    assert str(out) in message and " kB" in message  # the size that did not fit
    assert run_files(out) == {"checkpoint-2", "metrics.jsonl", "tensorboard"}  # no temporaries


def test_progress_lines_off_a_terminal_and_a_summary_without_eval(
    tmp_path, bert_nodrop_dir, data_dir, capsys, caplog, monkeypatch
):
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal, even under pytest -s
    out = tmp_path / "out"
    args = [a for a in train_args(bert_nodrop_dir, data_dir, out) if a != "--no-progress"]
    with caplog.at_level(logging.INFO, logger="warmstart"):
        main([*args, "--log-every", "4"])
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 4/8", "step 8/8"]
    assert all("loss" in line and "tokens/s" in line and "left" in line for line in lines)
    printed = capsys.readouterr().out
    for path in (out / "model", out / "metrics.jsonl", out / "training.png"):
        assert str(path) in printed
    assert "final training loss" in printed and "--eval" in printed


def test_progress_bar_on_a_terminal():
    class Terminal:
        text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    screen = Terminal()
    bar = Progress(total=10, initial=0, mode=None, every=5, stream=screen)
    assert not bar.lines
    for step in range(1, 4):
        bar.update(step, 1.5, 2e-4, 800.0)
    bar.close()
    assert "3/10" in screen.text and "loss=1.5000" in screen.text and "tok_s=800" in screen.text
    assert "lr=2.00e-04" in screen.text
    off = Terminal()
    Progress(total=10, initial=0, mode=False, every=5, stream=off).update(1, 1.0, 1.0, 1.0)
    assert off.text == ""


def test_summary_names_the_files_and_the_final_figures(tmp_path):
    from warmstart.train.progress import summary_lines

    summary = {"output": tmp_path, "steps": 8, "seconds": 75.0, "train_loss": 1.25}
    with_eval = summary_lines({**summary, "eval": {"eval_loss": 0.5, "rougeL": 61.234}})
    text = "\n".join(with_eval)
    assert "8 steps in 0:01:15" in text and str(tmp_path / "model") in text
    assert str(tmp_path / "metrics.jsonl") in text and str(tmp_path / "training.png") in text
    assert "final training loss: 1.2500" in text and "eval_loss 0.5000, rougeL 61.23" in text
