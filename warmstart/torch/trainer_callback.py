"""A callback for transformers' ``Trainer`` / ``Seq2SeqTrainer`` that makes the folders it writes
for a warmstart ``EncoderDecoderModel`` whole model folders.

The Trainer saves a model that is not one of transformers' own as its ``state_dict()`` alone
(``model.safetensors``, which this library's state dict satisfies: no two names share memory).
Those tensors have transformers' names and layout for every family (GPT-2's projections included),
so with the model's config.json and generation_config.json beside them, ``from_pretrained`` loads
the folder in warmstart and in transformers. This callback writes
those two files into each checkpoint and into ``output_dir`` when training ends (so that
``trainer.save_model()`` leaves a loadable folder there). transformers is not imported: the
Trainer calls its ``on_*`` methods by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SaveConfigCallback"]


class SaveConfigCallback:
    """``Seq2SeqTrainer(..., callbacks=[SaveConfigCallback()])``: config files beside the weights
    the Trainer saves (checkpoints, and ``output_dir`` at the end of training)."""

    def on_save(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        self._write(model, Path(args.output_dir) / f"checkpoint-{state.global_step}")

    def on_train_end(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        self._write(model, Path(args.output_dir))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):  # the Trainer's other events: nothing to do
            return _nothing
        raise AttributeError(name)

    def _write(self, model: Any, folder: Path) -> None:
        model = getattr(model, "module", model)  # under DistributedDataParallel
        if not hasattr(model, "write_configs"):
            return
        model.write_configs(folder)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None
