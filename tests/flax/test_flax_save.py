"""One folder for every framework: what the Flax model saves loads in the PyTorch model with equal
logits (the reverse is in test_flax_pairings.py); ``flax_model.msgpack`` round trips; and against
transformers 4.46's Flax models (where its environment exists), both ways: folders 4.46 saved load
here with equal logits, and the folder saved here loads in 4.46 with equal logits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest
import torch
from tiny_configs import GPT2_TINY, TINY, WIDE

import warmstart.config as ws
from warmstart import EncoderDecoderModel
from warmstart.flax import FlaxEncoderDecoderModel

REF_PYTHON = Path(__file__).parents[2] / ".venv-ref-flax" / "bin" / "python"
TOKENS = dict(decoder_start_token_id=2, pad_token_id=0)
INPUTS = dict(
    input_ids=[[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]],
    attention_mask=[[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]],
    decoder_input_ids=[[2, 5, 6, 7], [2, 8, 9, 0]],
)
# configs 4.46 builds: its Flax families as decoders, with a width projection (4.46's
# FlaxEncoderDecoderModel cannot run ELECTRA on either side: it omits the token_type_ids its
# ELECTRA requires; and it feeds RoBERTa positions 0, 1, ... where RoBERTa counts from pad + 1, so
# its RoBERTa logits differ from PyTorch's, which this side follows)
BUILT = {
    "bert2gpt2": (dict(model_type="bert", **WIDE), dict(model_type="gpt2", **GPT2_TINY)),
    "bert2bert": (dict(model_type="bert", **TINY), dict(model_type="bert", **TINY)),
    "bert2bart": (
        dict(model_type="bert", **TINY),
        dict(
            model_type="bart",
            vocab_size=99,
            d_model=32,
            decoder_layers=2,
            decoder_attention_heads=4,
            decoder_ffn_dim=37,
            max_position_embeddings=64,
        ),
    ),
}


def logits(model, params=None) -> np.ndarray:
    x = {k: np.asarray(v) for k, v in INPUTS.items()}
    return np.asarray(model(**x, params=params).logits)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A randomly initialised Flax bert2gpt2 (with enc_to_dec_proj) saved with its msgpack."""
    config = ws.EncoderDecoderConfig.from_encoder_decoder_configs(
        ws.BertConfig(**WIDE), ws.GPT2Config(**GPT2_TINY), **TOKENS
    )
    model = FlaxEncoderDecoderModel(config, seed=3)
    folder = tmp_path_factory.mktemp("flax-saved")
    model.save_pretrained(folder, flax_msgpack=True)
    return model, folder


def test_flax_folder_loads_in_pytorch(saved):
    model, folder = saved
    theirs = EncoderDecoderModel.from_pretrained(folder).eval()
    x = {k: torch.tensor(v) for k, v in INPUTS.items()}
    with torch.no_grad():
        expected = theirs(**x).logits.numpy()
    np.testing.assert_allclose(logits(model), expected, atol=1e-4, rtol=1e-4)


def test_msgpack_round_trip(saved, tmp_path):
    model, folder = saved
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    (tmp_path / "flax_model.msgpack").write_bytes((folder / "flax_model.msgpack").read_bytes())
    loaded = FlaxEncoderDecoderModel.from_pretrained(tmp_path)  # no model.safetensors
    same = jax.tree.map(
        lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()), model.params, loaded.params
    )
    assert all(jax.tree.leaves(same))


@pytest.mark.skipif(not REF_PYTHON.exists(), reason="transformers 4.46's Flax environment absent")
def test_transformers_446_flax_both_ways(saved, tmp_path):
    model, folder = saved
    jobs = [
        {
            "build": {"encoder": e, "decoder": d, "tokens": TOKENS},
            "folder": str(tmp_path / n),
            "inputs": INPUTS,
        }
        for n, (e, d) in BUILT.items()
    ]
    jobs.append({"folder": str(folder), "inputs": INPUTS})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    script = Path(__file__).with_name("ref_flax.py")
    out = tmp_path / "out.npz"
    done = subprocess.run(
        [str(REF_PYTHON), str(script), str(tmp_path / "jobs.json"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(out)
    for i, name in enumerate(BUILT):
        ours = FlaxEncoderDecoderModel.from_pretrained(tmp_path / name)  # 4.46's msgpack
        np.testing.assert_allclose(
            logits(ours), theirs[f"logits_{i}"], atol=1e-4, rtol=1e-4, err_msg=name
        )
    np.testing.assert_allclose(theirs[f"logits_{len(BUILT)}"], logits(model), atol=1e-4, rtol=1e-4)
