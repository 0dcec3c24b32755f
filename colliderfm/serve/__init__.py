"""Trained classifiers applied to new files: inference, predict, ONNX export."""
