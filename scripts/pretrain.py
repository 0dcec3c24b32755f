"""Rule pretrain: one variant's encoder on its pretexts (one process per GPU when given several), then
the rest of its bundle: scaler, bundle.json, MODEL_CARD.md."""

from colliderfm.conf import TrainingJob
from colliderfm.logs import job
from colliderfm.models import distributed, encoders, pretrain

with job(snakemake):
    i, o = snakemake.input, snakemake.output
    training = TrainingJob.from_params(snakemake.params.job, threads=snakemake.threads)
    distributed.launch_job(
        pretrain.run,
        training,
        gpus=snakemake.resources.gpu,
        train=i.train,
        val=i.val,
        pool=i.get("pool"),
        model=o.encoder,
        history=o.history,
        reconstruction=o.reconstruction,
    )
    encoders.write_description(
        training,
        encoder=o.encoder,
        history=o.history,
        scaler=i.scaler,
        pool=snakemake.params.pool,
        out_scaler=o.scaler,
        out_bundle=o.bundle,
        out_card=o.MODEL_CARD,
    )
