"""Figures, tables and the embedding study of a finished run."""
