"""Rules scaler (with pretrain.from) and import_encoder: files of a reused encoder bundle, copied."""

from colliderfm.logs import job
from colliderfm.models import encoders

with job(snakemake):
    for source, out in zip(snakemake.input, snakemake.output):
        encoders.copy(source, out)
