"""The files of a tokenizer folder: their names, and reading and writing the settings, special
tokens and added tokens they hold."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tokenizers import AddedToken
from tokenizers import Tokenizer as RustTokenizer

from ..hub import DOWNLOAD_ONLY_OPTIONS, LOOKUP_OPTIONS, load_json

TOKENIZER_FILE = "tokenizer.json"
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
# Keys of from_pretrained that steer loading and are not tokenizer settings.
_LOADER_KEYS = {*LOOKUP_OPTIONS, *DOWNLOAD_ONLY_OPTIONS, "use_fast", "subfolder"}


def _read_json(path: Path) -> dict[str, Any]:
    data = load_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object.")
    return data


def _read_config(folder: Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """tokenizer_config.json, then special_tokens_map.json, then the caller's overrides."""
    config = _read_json(folder / CONFIG_FILE)
    for key in ("tokenizer_class", "name_or_path"):
        config.pop(key, None)
    if "added_tokens_decoder" not in config:  # transformers reads the map only for older folders
        for key, value in _read_json(folder / SPECIAL_TOKENS_FILE).items():
            if not overrides.get(key):
                config[key] = value
    config.update({k: v for k, v in overrides.items() if k not in _LOADER_KEYS})
    return config


def _token_text(value: Any) -> str | None:
    """A special token as written in the config files: a string, an AddedToken or its dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, AddedToken):
        return value.content
    if isinstance(value, Mapping) and "content" in value:
        return str(value["content"])
    raise TypeError(f"A special token must be a string, got {value!r}.")


def _extra_tokens(config: Mapping[str, Any]) -> list[str]:
    extra = config.get("extra_special_tokens") or config.get("additional_special_tokens") or []
    if isinstance(extra, Mapping):
        extra = list(extra.values())
    return [_token_text(token) for token in extra]


def _special_added_token(token: str | AddedToken) -> AddedToken:
    """A string becomes a special AddedToken that is matched before normalisation."""
    if isinstance(token, AddedToken):
        return token
    return AddedToken(token, rstrip=False, lstrip=False, normalized=False, special=True)


def _no_file_keywords(config: Mapping[str, Any], *names: str) -> None:
    """transformers 5 ignores ``vocab_file=`` and gives a tokenizer of special tokens alone."""
    given = [name for name in names if config.get(name)]
    if given:
        raise TypeError(
            f"{given[0]}= is not read by the constructor (transformers 5 ignores it too, and builds "
            "an empty vocabulary); pass the file as vocab= (and merges=), or use from_pretrained."
        )


def _added_tokens(config: Mapping[str, Any], added: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A saved config's ``added_tokens_decoder`` wins over tokenizer.json's list."""
    if "added_tokens_decoder" not in config:
        return added
    return [{**tok, "id": int(i)} for i, tok in config["added_tokens_decoder"].items()]


def _add_tokens(backend: RustTokenizer, tokens: Sequence[Mapping[str, Any]]) -> None:
    """Add serialized added tokens (tokenizer.json form) in id order."""
    fields = ("single_word", "lstrip", "rstrip", "normalized", "special")
    for token in sorted(tokens, key=lambda t: int(t.get("id", 0))):
        added = AddedToken(token["content"], **{k: bool(token[k]) for k in fields if k in token})
        if added.special:
            backend.add_special_tokens([added])
        else:
            backend.add_tokens([added])


def _dump_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
