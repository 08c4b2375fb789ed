"""``tf.saved_model`` export with a serving signature (ids -> generated ids), loaded and run in a
fresh Python where warmstart cannot be imported: the same tokens as ``generate``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from warmstart.tf import TFEncoderDecoderModel
from warmstart.tf.export import save_for_serving

RUN_WITHOUT_WARMSTART = """
import sys
sys.modules["warmstart"] = None  # importing it now fails
import numpy as np, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
np.save(sys.argv[3], serve(input_ids=tf.constant(np.load(sys.argv[2])))["sequences"].numpy())
"""


def test_saved_model_generates_without_warmstart(generating_dir, tmp_path):
    model = TFEncoderDecoderModel.from_pretrained(generating_dir)
    options = dict(max_new_tokens=8, repetition_penalty=1.5)
    save_for_serving(model, tmp_path / "served", **options)
    x = np.random.default_rng(0).integers(4, 99, (3, 9)).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_WITHOUT_WARMSTART,
            str(tmp_path / "served"),
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        check=True,
        cwd=tmp_path,
    )
    expected = model.generate(x, **options).numpy()
    served = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(served[:, : expected.shape[1]], expected)
