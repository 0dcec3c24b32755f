"""Does masked pretraining help, and what changes that? The study behind the README's table.

small_5h fine-tuned from encoders pretrained with several mask fractions and lengths, and
trained from scratch, at 1 %, 10 % (3 seeds each) and 100 % of the training labels, with the
default and a 4x lower learning rate; test accuracy of each. Runs in a default-run directory,
on its standardised dataset, with the library calls the workflow's rules make.

    python studies/pretraining.py results/dataset results/studies/pretraining [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from colliderfm import classify, inference, pretrain
from colliderfm import config as cfg
from colliderfm.standardize import load_arrays

VARIANT = "small_5h"
PRETRAININGS = {  # name -> changes to the config's pretrain block
    "mask0.3_ep6": {"epochs": 6},
    "mask0.15_ep6": {"epochs": 6, "mask_fraction": 0.15},
    "mask0.5_ep6": {"epochs": 6, "mask_fraction": 0.5},
    "mask0.3_ep20": {"epochs": 20, "patience": 20},
}
LEARNING_RATES = (0.002, 0.0005)
SEEDS = {0.01: (1, 2, 3), 0.1: (1, 2, 3), 1.0: (1,)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", type=Path, default=Path(__file__).parent.parent / "config" / "config.yaml")
    args = ap.parse_args(argv)
    config = cfg.load(args.config)
    study = Study(args.dataset, args.out, config)
    rows = []
    for fraction, seeds in SEEDS.items():
        for seed in seeds:
            for lr in LEARNING_RATES:
                rows.append(dict(pretraining="none", lr=lr, fraction=fraction, seed=seed,
                                 accuracy=study.classifier(None, fraction, seed, lr)))
                for name in PRETRAININGS:
                    rows.append(dict(pretraining=name, lr=lr, fraction=fraction, seed=seed,
                                     accuracy=study.classifier(name, fraction, seed, lr)))
                pd.DataFrame(rows).to_csv(args.out / "results.csv", index=False)
    table = pd.DataFrame(rows).groupby(["fraction", "lr", "pretraining"])["accuracy"].agg(["mean", "std", "count"])
    print(table.round(4).to_string())


class Study:
    """Trains what is missing under ``out`` (reruns reuse finished models) and scores it on the test split."""

    def __init__(self, dataset: Path, out: Path, config: dict):
        self.data, self.out, self.config = dataset, out, config
        self.test = load_arrays(dataset / "test.parquet")

    def pretrained(self, name: str) -> Path:
        path = self.out / f"pretrain_{name}" / "pretrained.pt"
        if not path.exists():
            block = {**self.config["pretrain"], **PRETRAININGS[name]}
            job = dataclasses.replace(cfg.training_job({**self.config, "pretrain": block}, "pretrain", VARIANT),
                                      seed=1, device="cpu", threads=1)
            pretrain.run(job, train=self.data / "train.parquet", val=self.data / "val.parquet", model=path,
                         history=path.with_name("history.csv"), reconstruction=path.with_name("reconstruction.csv"))
        return path

    def classifier(self, pretraining: str | None, fraction: float, seed: int, lr: float) -> float:
        path = self.out / f"{pretraining or 'scratch'}_lr{lr}_{fraction}_{seed}" / "classifier.pt"
        if not path.exists():
            config = {**self.config, "classifier": {**self.config["classifier"], "lr": lr}}
            job = dataclasses.replace(cfg.training_job(config, "finetune" if pretraining else "scratch", VARIANT,
                                                       fraction), seed=seed, device="cpu", threads=1)
            classify.run(job, train=self.data / "train.parquet", val=self.data / "val.parquet",
                         scaler=self.data / "scaler.json", model=path, history=path.with_name("history.csv"),
                         pretrained=self.pretrained(pretraining) if pretraining else None)
        logits = inference.transformer_logits(path, "cpu")(self.test)
        return float((logits.argmax(axis=1) == self.test["label"]).mean())

if __name__ == "__main__":
    main()
