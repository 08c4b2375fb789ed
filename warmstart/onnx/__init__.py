"""The onnxruntime room: run a model that :func:`warmstart.torch.export.export_onnx` exported, with
nothing but the core, numpy and onnxruntime (no PyTorch, TensorFlow or JAX).

    from warmstart.onnx import ORTEncoderDecoderModel
    model = ORTEncoderDecoderModel.from_pretrained("exported/")
    ids = model.generate(input_ids, attention_mask, num_beams=4, max_new_tokens=64)  # numpy
"""

from .model import ORTEncoderDecoderModel, is_exported

__all__ = ["ORTEncoderDecoderModel", "is_exported"]
