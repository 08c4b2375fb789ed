"""No command destroys or silently spoils a run: ``--resume`` never deletes a run it cannot
continue, a non-finite loss stops training in one line without saving it, a resumed run's
TensorBoard and summary count each step once, bad data is told before the model loads."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from tiny import train_args

import warmstart.train.trainer
from warmstart.cli import main
from warmstart.train.metrics import read_records
from warmstart.train.progress import summary_lines


def snapshot(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")}


def test_resume_over_a_run_without_checkpoints_refuses_and_deletes_nothing(
    tmp_path, bert_nodrop_dir, data_dir
):
    out = tmp_path / "out"
    main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "2"))  # no --save-every
    before = snapshot(out)
    assert "model/model.safetensors" in before
    with pytest.raises(SystemExit) as refused:
        main(train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "2", "--resume"))
    message = str(refused.value)
    assert "no checkpoint to continue from" in message and "--overwrite-output-dir" in message
    assert f"--model {out / 'model'}" in message and "\n" not in message
    assert snapshot(out) == before  # the model, metrics and TensorBoard events are all there


def test_resume_into_an_empty_folder_starts_from_scratch(
    tmp_path, bert_nodrop_dir, data_dir, caplog
):
    with caplog.at_level(logging.WARNING, logger="warmstart"):
        main(train_args(bert_nodrop_dir, data_dir, tmp_path / "out", "--max-steps", "1",
                        "--resume"))  # fmt: skip
    assert any("no run there yet" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()


def test_resume_with_overwrite_is_refused(tmp_path, bert_nodrop_dir, data_dir):
    args = train_args(bert_nodrop_dir, data_dir, tmp_path / "out", "--resume")
    with pytest.raises(SystemExit, match="either --resume .* or --overwrite-output-dir"):
        main([*args, "--overwrite-output-dir"])
    assert not (tmp_path / "out").exists()


def test_a_non_finite_loss_stops_in_one_line_keeping_the_last_good_checkpoint(
    tmp_path, bert_nodrop_dir, data_dir, monkeypatch
):
    real = warmstart.train.trainer.Trainer._step
    calls = []

    def poisoned(self, batch):  # step 5's loss is nan: a diverging run
        calls.append(1)
        if len(calls) == 5:
            for p in self.model.parameters():
                p.data[...] = float("nan") if p.ndim > 1 else p.data
        return real(self, batch)

    monkeypatch.setattr(warmstart.train.trainer.Trainer, "_step", poisoned)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(train_args(bert_nodrop_dir, data_dir, out, "--save-every", "2"))
    message = str(stopped.value)
    assert message.startswith("warmstart train: error: step 5: the training loss is nan")
    assert "checkpoint-4" in message and "--lr" in message and "\n" not in message
    assert not (out / "model").exists()  # nothing non-finite saved as the final model
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_a_huge_learning_rate_never_saves_a_nan_model(tmp_path, bert_nodrop_dir, data_dir):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(train_args(bert_nodrop_dir, data_dir, out, "--lr", "1e30", "--max-grad-norm", "0",
                        "--max-steps", "6"))  # fmt: skip
    assert "not finite" in str(stopped.value) or "is nan" in str(stopped.value)
    assert not (out / "model").exists()


def test_a_resumed_run_shows_each_step_once(tmp_path, bert_nodrop_dir, data_dir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    args = train_args(bert_nodrop_dir, data_dir, out, "--save-every", "3", "--log-every", "1")
    main([*args, "--max-steps", "5"])  # as a run killed after step 5: checkpoint-3 is the last
    for path in [*out.glob("checkpoint-*"), out / "model"]:
        if path.name != "checkpoint-3":
            shutil.rmtree(path)
    trainer_summary = {}

    def keep(self, seconds):
        result = real_finish(self, seconds)
        trainer_summary.update(self.summary)
        return result

    real_finish = warmstart.train.trainer.Trainer._finish
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(warmstart.train.trainer.Trainer, "_finish", keep)
        main([*args, "--max-steps", "8", "--resume"])
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == sorted(set(steps)) == list(range(1, 9))
    assert [r["step"] for r in read_records(out / "metrics.jsonl")] == list(range(1, 9))
    first = summary_lines(trainer_summary)[0]
    assert first.startswith("Finished 8 steps; resumed at step 3, steps 4-8 took")


def test_a_bad_data_file_is_told_before_the_model_loads(tmp_path, bert_nodrop_dir, data_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"source": "a", "target": "b"}\n{"source": \n')
    loaded = []
    real = warmstart.train.trainer.EncoderDecoderModel.from_encoder_decoder_pretrained
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            warmstart.train.trainer.EncoderDecoderModel,
            "from_encoder_decoder_pretrained",
            lambda *a, **k: loaded.append(1) or real(*a, **k),
        )
        started = time.perf_counter()
        with pytest.raises(SystemExit, match="bad.jsonl, line 2: not valid JSON"):
            main(train_args(bert_nodrop_dir, data_dir, tmp_path / "out", "--train", str(bad)))
    assert not loaded and time.perf_counter() - started < 5
    assert not (tmp_path / "out").exists()


def test_step_and_weights_checks_name_what_to_try(tmp_path):
    from warmstart.train.finite import NonFiniteError, check_step, check_weights

    check_step(3, 1.5, 2.0, 1e-4, tmp_path)  # finite: nothing
    with pytest.raises(
        NonFiniteError, match="step 3: the loss is finite and the gradient norm inf"
    ):
        check_step(3, 1.5, float("inf"), 1e-4, tmp_path)
    with pytest.raises(NonFiniteError, match="no checkpoint was written"):
        check_weights(7, False, tmp_path)


def test_a_checkpoint_whose_training_state_would_run_code_is_refused_in_one_line(
    tmp_path, bert_nodrop_dir, data_dir, capsys
):
    import json
    import os

    import torch

    from warmstart.train.checkpoint import write_training_state

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo PWNED",))

    out = tmp_path / "out"
    args = train_args(bert_nodrop_dir, data_dir, out, "--max-steps", "4", "--save-every", "2")
    main(args)
    folder = out / "checkpoint-4"
    torch.save({"state": Evil()}, folder / "optimizer.pt")
    state = json.loads((folder / "trainer_state.json").read_text())
    (folder / "trainer_state.json").unlink()
    write_training_state(folder, {k: v for k, v in state.items() if k != "files"})  # checksums ok
    with pytest.raises(SystemExit) as refused:
        main([*args, "--max-steps", "6", "--resume"])
    message = str(refused.value)
    assert "refusing its training state" in message and "\n" not in message
    assert "PWNED" not in capsys.readouterr().out
