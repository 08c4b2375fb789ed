"""The core imports no framework: configs, tokenizers and checkpoint arrays work with torch, TensorFlow
and JAX blocked, and the framework sides resolve lazily with a one-line error when missing."""

import json
import subprocess
import sys
import textwrap

import numpy as np
from safetensors.numpy import save_file

from warmstart import hub


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_import_warmstart_imports_no_framework():
    out = _run(
        """
        import sys, warmstart
        print([m for m in ("torch", "tensorflow", "jax", "flax") if m in sys.modules])
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_core_works_with_every_framework_blocked(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]))
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2})
    )
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, tmp_path / "model.safetensors")
    out = _run(
        f"""
        import sys
        for name in ("torch", "tensorflow", "jax", "flax"):
            sys.modules[name] = None
        from warmstart import AutoConfig, BertTokenizer, GenerationConfig, hub
        tok = BertTokenizer({str(tmp_path / "vocab.txt")!r})
        print(tok("hello", return_tensors="np")["input_ids"].tolist())
        print(AutoConfig.from_pretrained({str(tmp_path)!r}).hidden_size)
        print(hub.load_arrays({str(tmp_path)!r})["w"].sum())
        print(GenerationConfig(max_new_tokens=3).max_new_tokens)
        try:
            import warmstart
            warmstart.EncoderDecoderModel
        except ImportError as err:
            print(err)
        """
    )
    assert out.returncode == 0, out.stderr
    ids, width, total, new, error = out.stdout.strip().splitlines()
    assert ids == "[[2, 4, 3]]" and width == "8" and float(total) == 15.0 and new == "3"
    assert error.endswith('pip install "warmstart[torch]"'), error


def test_arrays_round_trip_and_sharded_index(tmp_path):
    a, b = np.ones((2, 2), np.float32), np.arange(3, dtype=np.int64)
    hub.save_arrays({"a": a}, tmp_path / "model-00001-of-00002.safetensors")
    hub.save_arrays({"b": b}, tmp_path / "model-00002-of-00002.safetensors")
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (tmp_path / hub.SAFE_INDEX).write_text(json.dumps(index))
    arrays = hub.load_arrays(tmp_path)
    np.testing.assert_array_equal(arrays["a"], a)
    np.testing.assert_array_equal(arrays["b"], b)


def test_saved_folders_and_files_get_the_umask_modes(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        with hub.atomic_folder(tmp_path / "saved") as folder:
            hub.save_arrays({"a": np.ones(2, np.float32)}, folder / hub.SAFE_WEIGHTS)
            hub.write_text_atomic(folder / "config.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "saved").stat().st_mode) == 0o755
    for f in (tmp_path / "saved").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f.name
