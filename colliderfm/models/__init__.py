"""The models and how they are trained: the transformer, its pretexts and encoder bundles, the BDT
baseline, checkpoints and training loops."""
