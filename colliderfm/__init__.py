"""colliderfm: a universal transformer model for collider events, as a Snakemake workflow."""

__version__ = "0.1.0"
