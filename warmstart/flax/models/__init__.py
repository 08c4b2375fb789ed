"""The Flax encoders and decoders, one module per architecture family (linen modules whose
parameter names are transformers 4.x Flax's)."""
