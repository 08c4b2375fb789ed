"""`warmstart train --framework tf | flax`: that side's loop on the same data files and output rules,
writing a model folder the PyTorch side loads; options it lacks refused by name; a missing framework
is one line."""

import subprocess
import sys

import pytest
from train.tiny import tiny_bert, write_data

from warmstart import EncoderDecoderModel
from warmstart.cli import main

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
    args = _args(tiny, tmp_path / "run", "tf", "--save-every", "2", "--resume", "--grad-accum", "2")
    with pytest.raises(SystemExit, match="does not take --grad-accum, --save-every, --resume yet"):
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
