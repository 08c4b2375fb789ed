"""Names to local files, and tensors to and from disk.

A name is a local folder or a Hugging Face repo id. Repo ids are looked up in the local Hugging Face
cache first (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``, read at call
time) and downloaded only when ``HF_HUB_OFFLINE`` is not set and the network answers.

Weights are read from ``model.safetensors``, a sharded ``model.safetensors.index.json``, or a legacy
``pytorch_model.bin`` (``torch.load(weights_only=True)``, which refuses pickled code). Writes are atomic:
:func:`atomic_folder` builds the new folder beside the old one and swaps it in only once complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
TORCH_INDEX = "pytorch_model.bin.index.json"
WEIGHT_FILES = (SAFE_WEIGHTS, SAFE_INDEX, TORCH_WEIGHTS, TORCH_INDEX)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, honouring HF_HUB_CACHE and HF_HOME as set now."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


LOOKUP_OPTIONS = ("revision", "cache_dir", "local_files_only")
"""transformers' ``from_pretrained`` options that say where to look: :func:`resolve` takes them."""
DOWNLOAD_ONLY_OPTIONS = (
    "token",
    "force_download",
    "proxies",
    "trust_remote_code",
    "_from_auto",
    "_from_pipeline",
)
"""transformers' ``from_pretrained`` options that change nothing here (no code is run, files are
downloaded only when missing)."""


def resolve_with(name_or_path: str | os.PathLike, options: dict) -> Path:
    """:func:`resolve`, taking transformers' ``from_pretrained`` options out of ``options``: the
    lookup options are used, the download-only ones dropped; the rest stay for the caller."""
    for name in DOWNLOAD_ONLY_OPTIONS:
        options.pop(name, None)
    return resolve(name_or_path, **{k: options.pop(k) for k in LOOKUP_OPTIONS if k in options})


def resolve(
    name_or_path: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> Path:
    """Return the local folder holding a model or tokenizer.

    Args:
        name_or_path: a local folder, or a repo id such as ``"google-bert/bert-base-uncased"``.
        revision: a branch, tag or commit of the repo (repo ids only).
        cache_dir: the Hugging Face cache to look in (default: :func:`hf_cache_dir`).
        local_files_only: never try the hub.

    Returns:
        The folder's path.

    Raises:
        FileNotFoundError: nothing was found; the message says every place that was looked in.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    looked = [f"a local folder {str(path)!r} (none)"]
    if path.exists():
        raise NotADirectoryError(f"{name!r} is a file; pass the folder that holds config.json.")
    if name.count("/") > 1 or name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"No such folder: {name!r}.")

    from huggingface_hub import snapshot_download

    cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_cache_dir()
    try:
        return Path(
            snapshot_download(name, revision=revision, cache_dir=cache, local_files_only=True)
        )
    except Exception as err:  # not in the cache (or an invalid repo id)
        looked.append(f"the Hugging Face cache {str(cache)!r} ({type(err).__name__})")
    if offline() or local_files_only:
        why = "HF_HUB_OFFLINE is set" if offline() else "local_files_only=True"
        looked.append(f"the hub (not tried: {why})")
    else:
        try:
            return Path(
                snapshot_download(
                    name,
                    revision=revision,
                    cache_dir=cache,
                    allow_patterns=["*.json", "*.txt", "*.safetensors", "*.model", "*.bin"],
                )
            )
        except Exception as err:
            looked.append(f"the hub ({type(err).__name__}: {str(err).splitlines()[0][:200]})")
    raise FileNotFoundError(
        f"Could not find {name!r}. Looked in: "
        + "; ".join(looked)
        + ". Pass a folder that holds config.json, or put the repo in the Hugging Face cache."
    )


def load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); re-save or re-download it.") from err


def load_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a checkpoint folder into a flat dict of CPU tensors."""
    folder = Path(folder)
    if (folder / SAFE_WEIGHTS).is_file():
        return _load_safetensors(folder / SAFE_WEIGHTS)
    if (folder / SAFE_INDEX).is_file():
        return _load_sharded(folder, SAFE_INDEX, _load_safetensors)
    if (folder / TORCH_WEIGHTS).is_file():
        return _load_pickle(folder / TORCH_WEIGHTS)
    if (folder / TORCH_INDEX).is_file():
        return _load_sharded(folder, TORCH_INDEX, _load_pickle)
    raise FileNotFoundError(
        f"No weights in {folder}: expected one of {', '.join(WEIGHT_FILES)}. "
        "Save the model with save_pretrained, or pass the folder that holds the weights."
    )


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"{path} is truncated or corrupted and cannot be read ({err}). "
            "Re-download it or save the model again."
        ) from err


def _load_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"Refusing to load {path}: it is a pickle that holds more than tensors and could run code "
            f"when loaded ({str(err).splitlines()[0][:200]}). Convert it to safetensors with a tool "
            "you trust, or load it only if you trust its source."
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is truncated or corrupted and cannot be read ({err}).") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a dict of tensors.")
    return state


def _load_sharded(folder: Path, index_name: str, load_one) -> dict[str, torch.Tensor]:
    index = load_json(folder / index_name)
    shards = sorted(set(index.get("weight_map", {}).values()))
    if not shards:
        raise ValueError(f"{folder / index_name} has an empty weight_map.")
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        if not (folder / shard).is_file():
            raise FileNotFoundError(f"{folder / index_name} names {shard}, which is missing.")
        state.update(load_one(folder / shard))
    return state


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors as safetensors with transformers' metadata."""
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(state, path, metadata={"format": "pt"})


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, replaces: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a fresh folder to write into; on success it takes the place of ``target``.

    Files already in ``target`` are carried over (hard-linked) unless their names are in ``replaces``,
    so saving a model beside its tokenizer loses nothing. If the body raises, ``target`` is untouched.
    """
    target = Path(target).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is a file; pass a folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        if target.is_dir():
            for entry in target.iterdir():
                if entry.name in replaces or _is_shard(entry.name, replaces):
                    continue
                dest = tmp / entry.name
                if entry.is_dir():
                    shutil.copytree(entry, dest)
                else:
                    try:
                        os.link(entry, dest)
                    except OSError:
                        shutil.copy2(entry, dest)
        yield tmp
        for f in tmp.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _is_shard(name: str, replaces: tuple[str, ...]) -> bool:
    """Old shards of a weight format being rewritten are dropped with it."""
    if SAFE_WEIGHTS not in replaces:
        return False
    return name.startswith(("model-", "pytorch_model-")) or name in WEIGHT_FILES


def _swap(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
