"""The PyTorch encoders and decoders, one module per architecture family."""
