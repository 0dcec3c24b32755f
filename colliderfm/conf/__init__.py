"""The workflow's configuration: reading and checking a config (``check``), what its samples derive
(``samples``), the jobs it makes (``jobs``) and the results layout (``layout``). The names below are the
interface of the Snakefile and the command line."""

from colliderfm.conf.check import SETTINGS, load, physics_problem, read, validate
from colliderfm.conf.jobs import (
                                  STARTS,
                                  STAGES,
                                  EfficiencySpec,
                                  ModelSpec,
                                  TrainingJob,
                                  efficiency_specs,
                                  encoder_processes,
                                  encoders,
                                  model_fields,
                                  model_specs,
                                  pretext_key,
                                  pretext_name,
                                  training_job,
)
from colliderfm.conf.samples import (
                                  PROCESS_OPTIONS,
                                  anomaly_sample,
                                  anomaly_samples,
                                  lhe_shards,
                                  mass_scan,
                                  mediator_mass,
                                  pool_samples,
                                  pool_sources,
                                  pretraining_processes,
                                  reference_processes,
                                  sample_files,
                                  sample_processes,
                                  seed_for,
                                  selection_settings,
                                  shard_events,
                                  shard_process,
                                  shards,
                                  signal_processes,
                                  simulate_job,
)
from colliderfm.errors import ConfigError
from colliderfm.schema import section_defaults

__all__ = ["SETTINGS", "load", "physics_problem", "read", "validate", "STARTS", "STAGES", "EfficiencySpec",
           "ModelSpec", "TrainingJob", "efficiency_specs", "encoder_processes", "encoders", "model_fields",
           "model_specs", "pretext_key", "pretext_name", "training_job", "PROCESS_OPTIONS", "anomaly_sample",
           "anomaly_samples", "lhe_shards", "mass_scan", "mediator_mass", "pool_samples", "pool_sources",
           "pretraining_processes", "reference_processes", "sample_files", "sample_processes", "seed_for",
           "selection_settings", "shard_events", "shard_process", "shards", "signal_processes", "simulate_job",
           "ConfigError", "section_defaults"]
