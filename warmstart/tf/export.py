"""Serving: a ``tf.function`` with a signature (source ids -> generated ids) that
``tf.saved_model.save`` exports with the model, so that the saved model generates without warmstart
(TensorFlow alone loads and runs it)."""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf


def serving_function(model: Any, **generate_options: Any) -> tf.types.experimental.Function:
    """``generate`` with fixed options as a ``tf.function`` over (batch, length) int32 ids of any
    size, returning (batch * num_return_sequences, max_length) ids (pad after the end)."""

    def serve(input_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"sequences": model.generate(input_ids, **generate_options)}

    spec = tf.TensorSpec([None, None], tf.int32, name="input_ids")
    return tf.function(serve, input_signature=[spec])


def save_for_serving(model: Any, export_dir: str | os.PathLike, **generate_options: Any) -> None:
    """``tf.saved_model.save`` of ``model``'s weights with the signature ``serving_default`` (``input_ids``
    -> ``sequences``) generating with ``generate_options`` (``max_new_tokens=``, ``num_beams=``).

    Load it with ``tf.saved_model.load(export_dir).signatures["serving_default"]``.
    """
    holder = tf.Module()  # tracks the TensorFlow variables under Keras' (SavedModel needs that)
    holder.variables_ = [getattr(v, "value", v) for v in model.variables]
    holder.serve = serving_function(model, **generate_options)
    tf.saved_model.save(holder, os.fspath(export_dir), signatures={"serving_default": holder.serve})
