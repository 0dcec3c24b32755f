"""Events as model inputs: the universal variables (features), tasks, reading Delphes files (ingest) and standardisation."""
