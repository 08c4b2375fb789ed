"""Names to local files, and tensors to and from disk.

A name is a local folder or a Hugging Face repo id. Repo ids are looked up in the local Hugging Face
cache first (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else ``~/.cache/huggingface/hub``, read at call
time) and downloaded only when ``HF_HUB_OFFLINE`` is not set and the network answers.

Weights are found as ``model.safetensors``, a sharded ``model.safetensors.index.json``, or a legacy
``pytorch_model.bin`` (read by the PyTorch side only), and read here as numpy arrays through
safetensors' framework-neutral API; each framework turns them into its own tensors. No framework is
imported. Writes are atomic: :func:`atomic_folder` builds the new folder beside the old one and swaps
it in only once complete; :func:`write_text_atomic` does the same for one text file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

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


def weight_files(folder: Path) -> tuple[str, list[Path]]:
    """The weight files of a checkpoint folder: ``("safetensors" | "pickle", [files])``, a sharded
    index's shards in order. One rule for every framework's loader.

    Raises:
        FileNotFoundError: the folder holds no weights, or an index names a missing shard.
        ValueError: an index with an empty ``weight_map``.
    """
    folder = Path(folder)
    for name, kind in ((SAFE_WEIGHTS, "safetensors"), (TORCH_WEIGHTS, "pickle")):
        if (folder / name).is_file():
            return kind, [folder / name]
    for name, kind in ((SAFE_INDEX, "safetensors"), (TORCH_INDEX, "pickle")):
        if (folder / name).is_file():
            index = load_json(folder / name)
            shards = sorted(set(index.get("weight_map", {}).values()))
            if not shards:
                raise ValueError(f"{folder / name} has an empty weight_map.")
            for shard in shards:
                if not (folder / shard).is_file():
                    raise FileNotFoundError(f"{folder / name} names {shard}, which is missing.")
            return kind, [folder / s for s in shards]
    raise FileNotFoundError(
        f"No weights in {folder}: expected one of {', '.join(WEIGHT_FILES)}. "
        "Save the model with save_pretrained, or pass the folder that holds the weights."
    )


def corrupted(path: Path, err: Exception) -> ValueError:
    return ValueError(
        f"{path} is truncated or corrupted and cannot be read ({err}). "
        "Re-download it or save the model again."
    )


def load_arrays(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint folder as numpy arrays (bfloat16 is widened to float32, which
    numpy lacks). Frameworks without their own safetensors reader (JAX, TensorFlow) start here.

    Raises:
        ValueError: a pickled ``pytorch_model.bin`` (save it as safetensors with the PyTorch
            side), or a truncated file.
    """
    kind, files = weight_files(Path(folder))
    if kind == "pickle":
        raise ValueError(
            f"{files[0]} is a PyTorch pickle, which only the PyTorch side reads; load and save it "
            "once with warmstart.EncoderDecoderModel (or the encoder/decoder class) to write "
            "model.safetensors."
        )
    state: dict[str, np.ndarray] = {}
    for path in files:
        state.update(_read_safetensors(path))
    return state


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    try:
        with safe_open(path, framework="numpy") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        # with ml_dtypes imported (JAX and TensorFlow import it) numpy reads bfloat16 as such
        return {k: _widened(v) for k, v in arrays.items()}
    except TypeError as err:  # "data type 'bfloat16' not understood": numpy has no bfloat16
        if "bfloat16" not in str(err):
            raise
    except (SafetensorError, OSError) as err:
        raise corrupted(path, err) from err
    return _read_bf16(path)


def _widened(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype.name == "bfloat16" else array


def _read_bf16(path: Path) -> dict[str, np.ndarray]:
    """safetensors' numpy reader refuses bfloat16: read the file's header and bytes ourselves."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        raw = np.frombuffer(data[start:end], dtype=_NUMPY_DTYPES[info["dtype"]])
        if info["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.reshape(info["shape"])
    return out


_NUMPY_DTYPES = {
    "BF16": np.uint16,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I8": np.int8,
    "U8": np.uint8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "BOOL": np.bool_,
}


def save_arrays(state: dict[str, np.ndarray], path: Path) -> None:
    """Write numpy arrays as safetensors with transformers' metadata (``format: pt``, so
    transformers' PyTorch loader takes the file as its own)."""
    state = {k: np.ascontiguousarray(v) for k, v in state.items()}
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
        mask = _umask()
        for f in tmp.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
                os.chmod(f, 0o666 & ~mask)  # writers such as safetensors' make files 0600
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's 0700 is for while it is being written
        _swap(tmp, target)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if disk_full(err) and not isinstance(err, OSError):  # safetensors' SafetensorError
            raise OSError(
                errno.ENOSPC,
                f"No space left on the device writing {target}; nothing was changed there. Free "
                "some space and save again",
            ) from err
        raise


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` says the disk is full (an OSError, or a writer's error text)."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


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


def write_text_atomic(path: str | os.PathLike, text: str | bytes) -> None:
    """Write a text file (or ``bytes`` as they are) so that readers see the old or the new content,
    never half of it; the file gets the mode the umask gives any new file (a temporary file's 0600
    is not kept)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    text_mode = {"encoding": "utf-8", "newline": "\n"}
    try:
        with (
            os.fdopen(fd, "wb") if isinstance(text, bytes) else os.fdopen(fd, "w", **text_mode) as f
        ):
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
