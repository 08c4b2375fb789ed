"""A TF model call's inputs as transformers 4.x's TF models take them.

Keras models take their inputs as one first argument: ``model(input_ids)``, a dict
``model({"input_ids": x, "attention_mask": m})``, or a list/tuple of tensors in the order of the
call's parameters ``model([x, m])``. transformers 4.x's TF calls also absorb a keyword named
``kwargs`` (``model(..., kwargs={...})``, its content unused) and keywords that change nothing
here (``use_cache``); anything else unknown is refused naming what the call takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

# transformers 4.x call keywords that change nothing in a full (uncached) pass
NO_EFFECT = ("kwargs", "use_cache", "past_key_values", "head_mask", "decoder_head_mask")


def _is_array(x: Any) -> bool:
    return isinstance(x, (tf.Tensor, tf.Variable, np.ndarray)) or hasattr(x, "__array__")


def _is_output(x: Any) -> bool:
    """An output object (ours or transformers'), which is never a dict of inputs."""
    return hasattr(x, "last_hidden_state") or hasattr(x, "to_tuple")


def call_inputs(
    owner: str, order: tuple[str, ...], named: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """The inputs of a call by name.

    Args:
        owner: the class, for error messages.
        order: the call's parameter names in order (``order[0]`` may hold a dict, or a list/tuple
            of tensors, of the inputs: Keras' convention).
        named: the call's named parameters and their values.
        extra: the call's ``**kwargs``.

    Returns:
        ``named`` with the first input unpacked; the no-effect keywords dropped.

    Raises:
        TypeError: an unknown keyword, or a no-effect one given a value that would change the
            result (``past_key_values``, a head mask).
    """
    out = dict(named)
    first = out.get(order[0])
    if isinstance(first, Mapping) and not _is_output(first):
        out[order[0]] = None
        unpack = dict(first)
    elif (
        isinstance(first, (list, tuple))
        and len(first) > 0
        and all(x is None or _is_array(x) for x in first)
    ):
        unpack = dict(zip(order, first))
        out[order[0]] = None
    else:
        unpack = {}
    for key, value in {**unpack, **extra}.items():
        if key in order:
            if out.get(key) is None:
                out[key] = value
        elif key not in NO_EFFECT:
            raise TypeError(
                f"{owner}.call() got an unexpected input {key!r}; it takes {', '.join(order)}."
            )
        elif key not in ("kwargs", "use_cache") and value is not None:
            raise TypeError(
                f"{owner}.call() does not use {key}= (a full pass without a cache or head mask); "
                "leave it None."
            )
    return out


def int_tensor(x: Any) -> tf.Tensor | None:
    """Ids or a mask as int32, None kept."""
    return None if x is None else tf.cast(tf.convert_to_tensor(x), tf.int32)
