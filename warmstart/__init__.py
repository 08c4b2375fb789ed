"""warmstart: sequence-to-sequence models warm-started from pretrained checkpoints."""
