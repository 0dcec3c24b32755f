# Pretraining of an encoder per variant and pretext combination (pretrain.pretext; the data-efficiency
# study may compare several), on the unlabelled pool and the reference task's training split (labels
# unused), written as a self-describing bundle (colliderfm.models.encoders). With pretrain.from, the bundles
# of another run are copied in instead, checked at start-up, and nothing is pretrained.

if FROM:

    rule import_encoder:
        input:
            [
                f"{FROM}/{bundle_name('{variant}', '{pretext}')}/{f}"
                for f in BUNDLE_FILES
            ],
        output:
            **bundle("{pretext}"),
        log:
            L.log("import_encoder", "{variant}-{pretext}"),
        conda:
            "../../envs/colliderfm.yaml"
        script:
            "../../scripts/copy.py"

else:

    rule pretrain:
        input:
            **POOL,
            train=L.split(REFERENCE, "train"),
            val=L.split(REFERENCE, "val"),
            scaler=L.scaler(),
        output:
            **bundle("{pretext}"),
        log:
            L.log("pretrain", "{variant}-{pretext}"),
        conda:
            "../../envs/colliderfm.yaml"
        threads: config["threads"]
        resources:
            **gpu_resources(),
        params:
            job=pretrain_job,
            pool=cfg.pool_sources(config),
        script:
            "../../scripts/pretrain.py"
