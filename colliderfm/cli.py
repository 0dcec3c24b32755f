"""The ``colliderfm`` command: the same code the workflow rules call, for use by hand."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from colliderfm import __version__


def _simulate(args) -> None:
    from colliderfm import simulate

    opts = simulate.SimulationOptions(args.mediator_mass, args.dm_mass)
    _refuse_existing(args.out, args.overwrite)
    simulate.write_delphes(args.out, args.process, args.events, args.seed, opts, first_event=args.first_event)
    print(f"{args.out}: {args.events} {args.process} events")


def _selection(args):
    from colliderfm import config, ingest

    if args.config is None:
        return ingest.Selection()
    return ingest.Selection.from_config(config.load(args.config))


def _ingest(args) -> None:
    from colliderfm import ingest

    stats = ingest.ingest_files(args.files, args.out, args.sample, args.label, _selection(args), args.overwrite)
    print(f"{args.out}: {stats['selected']} of {stats['read']} events "
          f"({stats['nonfinite']} dropped for NaN/inf)")


def _predict(args) -> None:
    from colliderfm import predict

    stats = predict.predict_files(args.model, args.files, args.out, args.device, args.overwrite)
    print(f"{args.out}: predictions for {stats['selected']} of {stats['read']} events")


def training_job(config: dict, stage: str, variant: str, fraction: float):
    """The library call a training rule makes, with the same paths and seeds: (function, args)."""
    from colliderfm.config import ConfigError, ModelSpec, seed_for

    if variant not in config["model"]["variants"]:
        raise ConfigError(f"unknown variant '{variant}' (configured: {', '.join(config['model']['variants'])})")
    from colliderfm import classify, pretrain  # torch: imported once the arguments are known to be good
    data, models = Path("results/dataset"), Path("results/models") / variant
    common = (config["model"]["variants"][variant], config["model"]["dropout"])
    if stage == "pretrain":
        return pretrain.run, (data / "train.parquet", data / "val.parquet", variant, *common, config["pretrain"],
                              seed_for(config, "pretrain", variant), config["device"], config["threads"],
                              models / "pretrained.pt", models / "pretrain_history.csv",
                              models / "pretrain_reconstruction.csv")
    spec = ModelSpec(variant, "pretrained" if stage == "finetune" else "scratch", fraction)
    out = Path(spec.directory)
    return classify.run, (data / "train.parquet", data / "val.parquet", data / "scaler.json",
                          models / "pretrained.pt" if stage == "finetune" else None, variant, *common,
                          config["classifier"], fraction, seed_for(config, "classifier", variant, spec.pct),
                          config["device"], config["threads"], {**config["selection"], **config["ingest"]},
                          out / "classifier.pt", out / "history.csv")


def _train(args) -> None:
    from colliderfm import config

    cfg = config.load(args.config)
    fn, fn_args = training_job(cfg, args.stage, args.variant, args.fraction)
    from colliderfm import distributed

    distributed.launch(fn, args.nproc, *fn_args, device=cfg["device"])


def _check_config(args) -> None:
    from colliderfm import config

    cfg = config.load(args.config)
    print(f"{args.config}: valid; {len(cfg['samples'])} samples, {len(config.model_specs(cfg))} models")


def _refuse_existing(path: Path, overwrite: bool) -> None:
    from colliderfm.atomic import OutputExistsError

    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; remove it or pass --overwrite")


def parser() -> argparse.ArgumentParser:
    from colliderfm.simulate import PROCESSES

    top = argparse.ArgumentParser(prog="colliderfm", description=__doc__)
    top.add_argument("--version", action="version", version=f"colliderfm {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="generate events into a Delphes-layout ROOT file")
    p.add_argument("--process", required=True, choices=list(PROCESSES))
    p.add_argument("--events", required=True, type=int)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--first-event", type=int, default=0, help="number of the first event (Event.Number)")
    p.add_argument("--mediator-mass", type=float, default=500.0, help="tchan_dm mediator mass [GeV]")
    p.add_argument("--dm-mass", type=float, default=1.0, help="mass of its invisible decay products [GeV]")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=_simulate)

    p = sub.add_parser("ingest", help="Delphes ROOT files -> universal variables (Parquet)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--sample", default="sample", help="value of the sample column")
    p.add_argument("--label", type=int, default=-1, help="number of top quarks (-1: unknown)")
    p.add_argument("--config", type=Path, help="workflow config whose selection/ingest keys to use")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("predict", help="apply a trained classifier to Delphes files")
    p.add_argument("--model", required=True, type=Path, help="model directory, e.g. results/models/small_5h/finetune_100pct")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_predict)

    p = sub.add_parser("train", help="one training job of the workflow, e.g. under torchrun or srun (DDP)")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--stage", required=True, choices=["pretrain", "finetune", "scratch"])
    p.add_argument("--variant", required=True)
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the training labels")
    p.add_argument("--nproc", type=int, default=1, help="processes to spawn on this node (not under torchrun/srun)")
    p.set_defaults(run=_train)

    p = sub.add_parser("check-config", help="validate a workflow config file")
    p.add_argument("config", type=Path)
    p.set_defaults(run=_check_config)
    return top


def main(argv: list[str] | None = None) -> int:
    from colliderfm.logs import USER_ERRORS, configure

    args = parser().parse_args(argv)
    configure(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        args.run(args)
    except USER_ERRORS as err:
        print(f"colliderfm {args.command}: error: {err}", file=sys.stderr)
        return 1
    except ValueError as err:  # bad arguments the library rejects, e.g. a negative event count
        print(f"colliderfm {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0
