"""`warmstart train --framework tf | flax`: that side's loop on the same data files and output rules,
writing a model folder the PyTorch side loads; options it lacks refused by name; a missing framework
is one line."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from train.tiny import tiny_bert, write_data

from warmstart import AutoTokenizer, EncoderDecoderModel
from warmstart.cli import main
from warmstart.train import TrainConfig, loop
from warmstart.train.data import Example, tokenize_pairs
from warmstart.train.finite import NonFiniteError
from warmstart.train.metrics import read_records
from warmstart.train.predict import generate_texts

PACKAGES = {"tf": "tensorflow", "flax": "flax"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("frameworks")
    words = write_data(root / "data", {"train": 12})
    return root / "data" / "train.jsonl", tiny_bert(root / "bert", words, dropout=0.0)


def _args(tiny, out, framework: str, *extra: str) -> list[str]:
    data, bert = tiny
    return [
        "train", "--framework", framework, "--encoder", str(bert), "--train", str(data),
        "--output", str(out), "--batch-size", "4", "--lr", "3e-3", "--max-steps", "3", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("framework", ["tf", "flax"])
def test_another_framework_trains_and_writes_a_model_pytorch_loads(
    tiny, tmp_path, framework, capsys
):
    pytest.importorskip(PACKAGES[framework])
    main(_args(tiny, tmp_path / "run", framework))
    out = capsys.readouterr().out
    assert f"Trained with {framework}." in out and "Finished 3 steps" in out
    model = EncoderDecoderModel.from_pretrained(tmp_path / "run" / "model")
    assert model.config.decoder_start_token_id is not None and model.config.pad_token_id == 0
    with pytest.raises(SystemExit, match="--overwrite-output-dir"):  # one run per folder
        main(_args(tiny, tmp_path / "run", framework))


def test_options_the_loop_lacks_are_refused_by_name(tiny, tmp_path):
    args = _args(tiny, tmp_path / "run", "tf", "--bf16", "--device", "cpu", "--grad-accum", "2")
    with pytest.raises(SystemExit, match="does not take --grad-accum, --bf16, --device yet"):
        main(args)
    assert not (tmp_path / "run").exists()


def test_a_missing_framework_is_one_line(tiny, tmp_path):
    code = (
        "import sys; sys.modules['jax'] = None; sys.modules['flax'] = None\n"
        f"from warmstart.cli import main; main({_args(tiny, tmp_path / 'run', 'flax')!r})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert 'pip install "warmstart[flax]"' in out.stderr and "Traceback" not in out.stderr


LEARN = ("--batch-size", "4", "--lr", "1e-2", "--warmup-steps", "4", "--max-steps", "40",
         "--log-every", "10", "--max-new-tokens", "30", "--no-progress")  # fmt: skip


def _learn(tiny, out, framework: str) -> dict:
    data, bert = tiny
    main(["train", "--framework", framework, "--encoder", str(bert), "--train", str(data),
          "--eval", str(data), "--output", str(out), *LEARN])  # fmt: skip
    return [r for r in read_records(out / "metrics.jsonl") if r["split"] == "eval"][-1]


@pytest.fixture(scope="module")
def torch_scores(tmp_path_factory, tiny) -> dict:
    return _learn(tiny, tmp_path_factory.mktemp("torch") / "run", "torch")


@pytest.mark.parametrize("framework", ["tf", "flax"])
def test_each_side_learns_words_as_pytorch_does(tmp_path, framework, torch_scores, tiny):
    """The same label layout, schedule and evaluation: outputs are words, and ROUGE-L is near
    the PyTorch trainer's (labels starting with the start token taught TF and Flax to stop)."""
    pytest.importorskip(PACKAGES[framework])
    out = tmp_path / "run"
    scores = _learn(tiny, out, framework)
    train = [r for r in read_records(out / "metrics.jsonl") if r["split"] == "train"]
    assert [r["step"] for r in train] == [10, 20, 30, 40] and train[-1]["loss"] < train[0]["loss"]
    assert torch_scores["rougeL"] > 15, torch_scores  # learnt: not empty or one repeated word
    assert abs(scores["rougeL"] - torch_scores["rougeL"]) < 10, (scores, torch_scores)
    assert abs(scores["eval_loss"] - torch_scores["eval_loss"]) < 0.3, (scores, torch_scores)
    model = EncoderDecoderModel.from_pretrained(out / "model")
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    source = json.loads(tiny[0].read_text().splitlines()[0])["source"]
    said = generate_texts(model, tokenizer, [source], max_new_tokens=30)[0]
    assert len(said.split()) >= 3, said  # words, not an empty string
    assert {"metrics.jsonl", "training.png", "tensorboard", "model"} <= {
        p.name for p in out.iterdir()
    }


@pytest.mark.parametrize("framework", ["tf", "flax"])
def test_each_side_uses_the_pytorch_label_layout(tiny, framework):
    """Labels: the target's tokens then eos, never the start token, -100 padding."""
    pytest.importorskip(PACKAGES[framework])
    _, bert = tiny
    tokenizer = AutoTokenizer.from_pretrained(bert)
    pairs = [("mary went home .", "mary went home ."), ("a b", "a")]
    expected = tokenize_pairs(pairs, tokenizer, 128, 64, tokenizer.sep_token_id)
    if framework == "tf":
        from warmstart.tf.train import dataset

        labels = next(iter(dataset(pairs, tokenizer, batch_size=2)))["labels"].numpy()
    else:
        from warmstart.flax import FlaxEncoderDecoderModel
        from warmstart.flax.train import make_batch

        model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(bert, bert)
        model.config.decoder_start_token_id = tokenizer.cls_token_id
        model.config.pad_token_id, model.config.eos_token_id = 0, tokenizer.sep_token_id
        labels = np.asarray(make_batch(model, tokenizer, *zip(*pairs))["labels"])
    for row, example in zip(labels.tolist(), expected):
        assert row[: len(example.labels)] == example.labels
        assert set(row[len(example.labels) :]) <= {-100}
        assert row[0] != tokenizer.cls_token_id and row[len(example.labels) - 1] == 3  # [SEP]


def test_a_non_finite_loss_stops_the_shared_loop_before_saving(tmp_path, caplog):
    """The TF and Flax loop: one line naming the step, nothing saved as the final model."""

    class Side:
        steps = 0

        def step(self, batch, lr, new_lr):
            self.steps += 1
            return (float("nan") if self.steps == 3 else 2.0), 1.0

        def weights_finite(self):
            return True

    tokenizer = type("Tok", (), {"pad_token_id": 0})()
    examples = [Example([1, 2, 3], [4, 5]) for _ in range(8)]
    config = TrainConfig(train_file="x", output_dir=str(tmp_path), max_steps=5, batch_size=2,
                         log_every=1, progress=False)  # fmt: skip
    with pytest.raises(NonFiniteError, match="^step 3: the training loss is nan.*--lr"):
        loop.run(Side(), tokenizer, config, examples, None, tmp_path)
    assert [r["step"] for r in read_records(tmp_path / "metrics.jsonl")] == [1, 2]
    assert not (tmp_path / "model").exists()


def test_new_lr_reaches_the_weights_the_warm_start_initialised(tiny):
    """--new-lr: TF and Flax single out the weights PyTorch's warm start names as new."""
    _, bert = tiny
    expected = len(
        EncoderDecoderModel.from_encoder_decoder_pretrained(bert, bert).newly_initialized
    )
    assert expected == 25  # 2 layers' cross-attention (10 each) and the LM head's transform (5)
    if importlib.util.find_spec("tensorflow"):
        from warmstart.tf import TFEncoderDecoderModel
        from warmstart.tf.train import Side

        model = TFEncoderDecoderModel.from_encoder_decoder_pretrained(bert, bert)
        fresh = [vs for new, _, vs in Side(model, separate_new=True).groups if new]
        assert len(fresh[0]) == expected
    if importlib.util.find_spec("flax"):
        import jax

        from warmstart.flax import FlaxEncoderDecoderModel
        from warmstart.flax.train import warm_start_new_weights

        model = FlaxEncoderDecoderModel.from_encoder_decoder_pretrained(bert, bert)
        new = jax.tree.leaves(warm_start_new_weights(model, bert, bert))
        assert sum(new) == expected


@pytest.mark.parametrize("framework", ["tf", "flax"])
def test_each_side_checkpoints_and_resumes_to_the_same_weights(
    tiny, tmp_path, framework, monkeypatch
):
    pytest.importorskip(PACKAGES[framework])
    from warmstart.torch.weights import load_weights
    from warmstart.train.checkpoint import list_checkpoints

    run = ("--max-steps", "6", "--save-every", "3", "--keep-last", "1", "--log-every", "1")
    main(_args(tiny, tmp_path / "reference", framework, *run))
    module = importlib.import_module(f"warmstart.{framework}.train")
    real, calls = module.Side.step, []

    def interrupted(self, batch, lr, new_lr):  # Ctrl-C during step 5
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(self, batch, lr, new_lr)

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(module.Side, "step", interrupted)
        with pytest.raises(SystemExit) as stopped:
            main(_args(tiny, out, framework, *run))
    assert stopped.value.code == 130 and [s for s, _ in list_checkpoints(out)] == [3]
    assert (out / "checkpoint-3" / "training_state.npz").is_file()
    main([*_args(tiny, out, framework, *run), "--resume"])
    assert [r["step"] for r in read_records(out / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    ref, got = load_weights(tmp_path / "reference" / "model"), load_weights(out / "model")
    assert ref.keys() == got.keys()
    for name in ref:  # no dropout in this model: the resumed run redoes steps 4-6 exactly
        np.testing.assert_allclose(got[name].numpy(), ref[name].numpy(), atol=1e-6, err_msg=name)
    for other in {"torch", "tf", "flax"} - {framework}:  # another framework's loop refuses it
        if importlib.util.find_spec(PACKAGES.get(other, other)):
            with pytest.raises(SystemExit, match=f"written by --framework {framework}"):
                main([*_args(tiny, out, other, *run), "--resume"])
