"""Checkpoint arrays read as numpy by the core from files PyTorch wrote: bfloat16, which numpy lacks,
is widened to float32, also once ml_dtypes (imported by JAX and TensorFlow) is loaded."""

import subprocess
import sys
import textwrap

import numpy as np

from warmstart import hub


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_arrays_read_as_numpy_including_bfloat16(tmp_path):
    import torch
    from safetensors.torch import save_file as save_torch

    w = torch.randn(3, 4)
    save_torch({"a": w.to(torch.bfloat16), "b": w}, tmp_path / "model.safetensors")
    arrays = hub.load_arrays(tmp_path)
    assert arrays["a"].dtype == np.float32 and arrays["b"].dtype == np.float32
    np.testing.assert_array_equal(arrays["a"], w.to(torch.bfloat16).float().numpy())
    np.testing.assert_array_equal(arrays["b"], w.numpy())


def test_bfloat16_is_widened_even_with_ml_dtypes_imported(tmp_path):
    """JAX and TensorFlow import ml_dtypes, with which numpy reads bfloat16 natively."""
    out = _run(
        f"""
        import numpy as np, ml_dtypes, torch
        from safetensors.torch import save_file
        from warmstart import hub
        save_file({{"a": torch.ones(2, dtype=torch.bfloat16)}}, {str(tmp_path / "model.safetensors")!r})
        print(hub.load_arrays({str(tmp_path)!r})["a"].dtype)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "float32"
