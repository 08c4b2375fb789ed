"""Name resolution through the local Hugging Face cache, weight files, atomic folders."""

import pytest
import torch
from hub_cache import add_to_hf_cache

from warmstart import hub
from warmstart.torch import weights


def test_local_folder_wins(tmp_path):
    assert hub.resolve(tmp_path) == tmp_path


def test_repo_id_found_in_hf_hub_cache(hf_cache, minilm_dir):
    snapshot = add_to_hf_cache(hf_cache, "org/minilm", minilm_dir)
    assert hub.resolve("org/minilm") == snapshot


def test_hf_home_is_honoured(tmp_path, monkeypatch, minilm_dir):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    snapshot = add_to_hf_cache(tmp_path / "home" / "hub", "org/minilm", minilm_dir)
    assert hub.resolve("org/minilm") == snapshot


def test_not_found_says_where_it_looked(hf_cache):
    with pytest.raises(FileNotFoundError) as err:
        hub.resolve("nobody/nothing")
    message = str(err.value)
    assert "local folder" in message and str(hf_cache) in message and "HF_HUB_OFFLINE" in message


def test_a_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(NotADirectoryError):
        hub.resolve(tmp_path / "x.txt")


def test_weights_round_trip_and_formats(tmp_path):
    state = {"a.weight": torch.randn(3, 4), "b": torch.arange(5)}
    weights.save_weights(state, tmp_path / "model.safetensors")
    loaded = weights.load_weights(tmp_path)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    assert torch.equal(weights.load_weights(tmp_path)["a.weight"], state["a.weight"])


def test_sharded_index_names_a_missing_shard(tmp_path):
    (tmp_path / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model-00001-of-00002.safetensors"}}'
    )
    with pytest.raises(FileNotFoundError, match="model-00001-of-00002.safetensors"):
        weights.load_weights(tmp_path)


def test_atomic_folder_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with hub.atomic_folder(target) as tmp:
        (tmp / "config.json").write_text("old")
    with pytest.raises(RuntimeError), hub.atomic_folder(target, replaces=("config.json",)) as tmp:
        (tmp / "config.json").write_text("half")
        raise RuntimeError("crash")
    assert (target / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_atomic_folder_drops_stale_shards_but_keeps_other_files(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    for name in ("model-00001-of-00002.safetensors", "model.safetensors.index.json", "vocab.txt"):
        (target / name).write_text("x")
    with hub.atomic_folder(target, replaces=(hub.SAFE_WEIGHTS,)) as tmp:
        (tmp / hub.SAFE_WEIGHTS).write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors", "vocab.txt"]
