"""Saving and loading of ``EncoderDecoderModel``: a saved composite (``from_pretrained``), two
pretrained halves (``from_encoder_decoder_pretrained``, Rothe et al.'s warm start), and
``save_pretrained``, all in transformers' layout."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import hub
from ..config import (
    CONFIG_NAME,
    EncoderDecoderConfig,
    as_config,
    check_attn_implementation,
    set_fields,
    side_options,
)
from ..generation import GENERATION_CONFIG_NAME, GenerationConfig
from ..hub import write_text_atomic
from . import checkpoint, sharing, weights
from .checkpoint import summarize_keys
from .families import family
from .pretrained import TakesConfigs

logger = logging.getLogger("warmstart")


def pretrained_half(
    side: str, path: str | os.PathLike | None, options: dict[str, Any], dtype: torch.dtype
) -> tuple[nn.Module, list[str]]:
    """Build one side from a checkpoint (or take ``options['model']``); return it and its new keys."""
    if options.get("model") is not None:
        return options["model"], []
    if path is None:
        raise ValueError(f"Pass the {side} checkpoint (a folder or repo id) or {side}_model=.")
    folder = hub.resolve(path)
    config = options.pop("config", None)
    if config is not None:
        config = as_config(config, f"{side}_config")
    if config is None:
        config = checkpoint.read_config(folder)
        config.is_decoder = config.add_cross_attention = side == "decoder"
    elif side == "decoder":  # a decoder_config= made for the checkpoint alone, as transformers does
        config.is_decoder = config.add_cross_attention = True
    checkpoint.refuse_composite(config, folder)
    for key, value in options.items():
        setattr(config, "_attn_implementation" if key == "attn_implementation" else key, value)
    fam = family(config)
    cls = fam.decoder if side == "decoder" else fam.encoder
    return checkpoint.load_module(cls, folder, config, dtype)


class LoadingMixin(metaclass=TakesConfigs):
    """``save_pretrained``, ``from_pretrained`` and ``from_encoder_decoder_pretrained`` for
    :class:`~warmstart.torch.EncoderDecoderModel`."""

    def save_pretrained(
        self, save_directory: str | os.PathLike, safe_serialization: bool = True
    ) -> None:
        """Write config.json and the weights in transformers' layout, atomically.

        Other files in ``save_directory`` (a tokenizer, say) are kept.
        """
        self._refuse_if_quantized("saved")
        state = checkpoint.to_hf_layout(self._state_to_save(), self.config)
        replaces = (CONFIG_NAME, GENERATION_CONFIG_NAME, *hub.WEIGHT_FILES)
        with hub.atomic_folder(save_directory, replaces=replaces) as tmp:
            self.write_configs(tmp)
            weights.write_weights(state, tmp, safe_serialization)

    def write_configs(self, folder: str | os.PathLike) -> None:
        """Write the config.json and generation_config.json of :meth:`save_pretrained` (the
        generation settings ``generate`` would use) into ``folder``, without the weights."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        config["dtype"] = str(self.dtype).removeprefix("torch.")
        write_text_atomic(folder / CONFIG_NAME, checkpoint.to_json(config))
        self._generation_config(None).save_pretrained(folder)

    def _state_to_save(self) -> dict[str, Tensor]:
        """Each tensor once, except those the encoder shares with the decoder: transformers 5 no
        longer ties them, so both names are written (4.x reads both and ties them again)."""
        state = checkpoint.dedupe_tied(self)
        for names in self.shared_parameter_names:
            kept = next(state[n] for n in names if n in state)
            for name in names:
                if state.get(name) is not kept:  # a copy, written after the rest
                    state.pop(name, None)
                    state[name] = kept.clone()
        return state

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        config: EncoderDecoderConfig | None = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        quantize: str | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        device_map: str | int | torch.device | None = None,
        output_loading_info: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Load a saved encoder-decoder model (a folder or a cached repo id), in eval mode.

        Args:
            pretrained_model_name_or_path: folder with config.json and weights, or a repo id.
            config: use this config instead of the saved one.
            dtype: floating dtype of the parameters (default float32; ``"auto"``: the dtype the
                weights are stored in).
            quantize: ``"int8"`` or ``"bf16"``: decoder weights in reduced precision, for
                inference only (see :meth:`quantize`).
            revision, cache_dir, local_files_only: where a repo id is looked up
                (:func:`warmstart.hub.resolve`).
            device_map: one device for the whole model (``"cpu"``, ``"cuda:0"``, ``0``, ``"auto"``
                for the GPU when there is one).
            output_loading_info: also return transformers' loading report (every key loads, or
                loading fails).
            **kwargs: config fields to set, e.g. ``decoder_start_token_id=101``; transformers'
                download options (``token``, ``force_download``, ...) are accepted and unused.

        Returns:
            The model, or ``(model, loading_info)``.
        """
        for name in checkpoint.IGNORED_LOAD_OPTIONS:
            kwargs.pop(name, None)
        attn_implementation = kwargs.pop("attn_implementation", None)
        check_attn_implementation(attn_implementation)
        folder = hub.resolve(
            pretrained_model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
        )
        config = _composite_config(folder, config, kwargs)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation  # both sides follow
        device = _device_of(device_map)
        with torch.device("meta"):
            model = cls(config)
        _load_composite(model, folder, dtype or torch_dtype)
        if device is not None:
            model.to(device)
        model = model.quantize(quantize) if quantize is not None else model.eval()
        if output_loading_info:
            info = {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set()}
            return model, {**info, "error_msgs": []}
        return model

    @classmethod
    def from_encoder_decoder_pretrained(
        cls,
        encoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        decoder_pretrained_model_name_or_path: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> Any:
        """Warm-start from a pretrained encoder checkpoint and a pretrained decoder checkpoint.

        Args:
            encoder_pretrained_model_name_or_path: folder or repo id of the encoder.
            decoder_pretrained_model_name_or_path: folder or repo id of the decoder.
            **kwargs: ``encoder_model=``/``decoder_model=`` ready modules; ``encoder_config=``/
                ``decoder_config=`` configs; other ``encoder_*``/``decoder_*`` set fields of that
                side's config; ``dtype=``; everything else (``decoder_start_token_id=`` too) sets
                fields of the composite config.

        Returns:
            The model in eval mode; ``model.newly_initialized`` names the weights no checkpoint held
            (the decoder's cross-attention, and its LM head if the checkpoint had none).
        """
        dtype = checkpoint.float_dtype(kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None))
        attn_implementation = kwargs.pop("attn_implementation", None)
        check_attn_implementation(attn_implementation)
        sides = side_options(kwargs)  # the rest set fields of the composite config
        halves, new = {}, []
        for side, path in (
            ("encoder", encoder_pretrained_model_name_or_path),
            ("decoder", decoder_pretrained_model_name_or_path),
        ):
            halves[side], missing = pretrained_half(side, path, sides[side], dtype)
            new += [f"{side}.{k}" for k in missing]
        config = EncoderDecoderConfig(
            encoder=halves["encoder"].config, decoder=halves["decoder"].config
        )
        for key, value in kwargs.items():
            setattr(config, key, value)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation  # both sides follow
        model = cls(config, encoder=halves["encoder"], decoder=halves["decoder"])
        if hasattr(model, "enc_to_dec_proj"):
            model.enc_to_dec_proj.to(dtype)
            new += ["enc_to_dec_proj.weight", "enc_to_dec_proj.bias"]
        model.newly_initialized = new
        if new:
            logger.warning(
                "Newly initialised (train before use): %s", "; ".join(summarize_keys(new))
            )
        return model.eval()


def _composite_config(
    folder: Path, config: EncoderDecoderConfig | None, fields: dict[str, Any]
) -> EncoderDecoderConfig:
    """The saved (or given) composite config with ``from_pretrained``'s field keywords set."""
    config = checkpoint.read_config(folder) if config is None else as_config(config)
    if not isinstance(config, EncoderDecoderConfig):
        raise ValueError(
            f"{folder} holds a {config.model_type!r} model, not an encoder-decoder. Build one from "
            "it with EncoderDecoderModel.from_encoder_decoder_pretrained(encoder, decoder)."
        )
    set_fields(config, fields, "from_pretrained()")
    return config


def _load_composite(model: Any, folder: Path, dtype: torch.dtype | str | None) -> None:
    """Fill a composite built on the meta device from ``folder``'s weights (and generation
    config); every tensor must be there."""
    state = checkpoint.split_composite(weights.load_weights(folder), model.config)
    if sharing.trained_apart(state, model):
        logger.warning(
            "%s says tie_encoder_decoder=True but holds different encoder and decoder weights "
            "(transformers 5 trains them apart); they are loaded apart, as transformers 5 "
            "loads them.",
            folder,
        )
        sharing.untie_encoder_decoder(model)
    state = sharing.fill_shared(state, model)
    if dtype == "auto":
        dtype = checkpoint.stored_dtype(state)
    missing = checkpoint.load_into(model, state, checkpoint.float_dtype(dtype), model._init_for)
    if (folder / GENERATION_CONFIG_NAME).is_file():
        model._adopt_generation_config(GenerationConfig.from_pretrained(folder))
    if missing:
        raise ValueError(
            f"The checkpoint in {folder} lacks {len(missing)} tensors the model needs: "
            f"{', '.join(summarize_keys(missing))}. It may be truncated or for another model."
        )


def _device_of(device_map: str | int | torch.device | None) -> torch.device | None:
    """The one device ``device_map`` names; ``"auto"`` is the GPU when torch sees one."""
    if device_map is None:
        return None
    if device_map == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device_map, dict):
        raise ValueError(
            "device_map as a dict (parts of the model on several devices) is not supported; pass "
            "one device such as 'cuda:0', or load and then call model.to(device)."
        )
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device_map={device_map!r} names no device ({err}).") from None
