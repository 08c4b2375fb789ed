"""Against transformers 4.46.3's own TensorFlow models, where their environment is present
(``.venv-ref-tf``, made by ``make bench-refs``; skipped otherwise): logits of folders saved by the
PyTorch side, eager greedy tokens, and the ``tf_model.h5`` it writes loaded here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from warmstart.tf import TFEncoderDecoderModel

REFERENCE = Path(__file__).resolve().parents[2] / ".venv-ref-tf" / "bin" / "python"

SCRIPT = """
import json, sys
import numpy as np
from transformers import TFEncoderDecoderModel
folder, out = sys.argv[1], sys.argv[2]
model = TFEncoderDecoderModel.from_pretrained(folder)
x = np.array(json.loads(sys.argv[3]), np.int32)
y = np.array(json.loads(sys.argv[4]), np.int32)
logits = model(input_ids=x, decoder_input_ids=y).logits.numpy()
tokens = model.generate(x, max_new_tokens=8).numpy()
model.save_pretrained(out)  # tf_model.h5
print(json.dumps({"logits": logits.tolist(), "tokens": tokens.tolist()}))
"""


@pytest.mark.skipif(not REFERENCE.is_file(), reason="transformers 4.46's TF environment is absent")
@pytest.mark.parametrize("name", ["bert2gpt2", "generating"])
def test_equal_to_transformers_446_tf(name, pairing_dirs, generating_dir, tmp_path):
    folder = generating_dir if name == "generating" else pairing_dirs[name]
    x = np.random.default_rng(0).integers(4, 99, (2, 9)).tolist()
    y = [[2, 5, 6, 7], [2, 8, 9, 10]]
    command = [
        str(REFERENCE),
        "-c",
        SCRIPT,
        str(folder),
        str(tmp_path),
        json.dumps(x),
        json.dumps(y),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    ours = TFEncoderDecoderModel.from_pretrained(folder)
    logits = ours(input_ids=np.array(x), decoder_input_ids=np.array(y)).logits.numpy()
    np.testing.assert_allclose(logits, np.array(theirs["logits"]), atol=1e-4, rtol=1e-4)
    tokens = ours.generate(np.array(x), max_new_tokens=8).numpy()
    expected = np.array(theirs["tokens"])
    np.testing.assert_array_equal(tokens, expected[:, : tokens.shape[1]])
    from_h5 = TFEncoderDecoderModel.from_pretrained(tmp_path)  # only tf_model.h5 there
    assert (tmp_path / "tf_model.h5").is_file() and not (tmp_path / "model.safetensors").exists()
    again = from_h5(input_ids=np.array(x), decoder_input_ids=np.array(y)).logits.numpy()
    np.testing.assert_allclose(again, logits, atol=1e-5)
