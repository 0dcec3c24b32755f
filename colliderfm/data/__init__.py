"""Events as model inputs: the universal variables (features), tasks, reading Delphes files (reading,
ingest), standardisation and the model-input arrays."""
