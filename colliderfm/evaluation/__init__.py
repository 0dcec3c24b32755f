"""Metrics of a trained model, anomaly scores and the anomaly search."""
