"""The ``colliderfm`` command: the same code the workflow rules call, for use by hand."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from colliderfm import __version__


def _simulate(args) -> None:
    from colliderfm import sim
    from colliderfm.conf import physics_problem
    from colliderfm.sim import processes

    if args.list:
        print(processes.listing())
        return
    if (args.process is None) == (args.lhe is None):
        raise ValueError("give either --process (with --events) or --lhe FILE")
    if args.out is None:
        raise ValueError("--out is required")
    opts = sim.SimulationOptions.default(
        mediator_mass=args.mediator_mass, dm_mass=args.dm_mass, mediator_width=args.mediator_width, mpi=args.mpi
    )
    problem = physics_problem(dataclasses.asdict(opts))
    if problem:
        raise ValueError(f"--{problem[0].replace('_', '-')} {problem[1]}")
    _require_suffix(args.out, ".root", "a Delphes-layout ROOT file")
    _refuse_existing(args.out, args.overwrite)
    if args.lhe is not None:
        _, n = sim.simulate_lhe([args.lhe], args.out, args.seed, opts, first_event=args.first_event)
        print(f"{args.out}: {n} events from {args.lhe}")
        return
    if args.events is None:
        raise ValueError("--events is required with --process")
    sim.write_delphes(args.out, args.process, args.events, args.seed, opts, first_event=args.first_event)
    print(f"{args.out}: {args.events} {args.process} events")


def _selection(args):
    from colliderfm import conf as config
    from colliderfm.data import ingest

    if args.config is None:
        return ingest.Selection.default()
    return ingest.Selection.from_config(config.load(args.config))


def _ingest(args) -> None:
    from colliderfm.data import ingest, reading

    stats = ingest.ingest_files(args.files, args.out, args.sample, args.label, _selection(args), args.overwrite)
    print(f"{args.out}: {stats['selected']} of {stats['read']} events ({reading.drop_summary(stats)})")


def _predict(args) -> None:
    from colliderfm.data import reading
    from colliderfm.serve import predict

    reading.check_paths(args.files, args.out)  # a file given twice, or --out that is an input
    stats = predict.predict_files(args.model, args.files, args.out, args.device, args.overwrite, args.replica)
    print(f"{args.out}: predictions for {stats['selected']} of {stats['read']} events")


def _export(args) -> None:
    from colliderfm.serve import export

    out = export.export_onnx(args.model, args.out, args.overwrite, args.replica)
    print(f"{out}: ONNX model (opset {export.OPSET}), inputs and scaler in {out.with_suffix('.json')}")


def _replica_argument(parser) -> None:
    parser.add_argument(
        "--replica", type=int, help="with a data-efficiency point (its models.pt): the seed number of the classifier"
    )


def training_paths(job, pool: bool = False, reference: str | None = None) -> dict:
    """The files a training rule reads and writes, from the one results layout the rules use, so
    ``colliderfm train`` under torchrun or srun runs the rule's step in a workflow directory.
    ``reference``: the reference task (first configured), whose training split pretraining reads."""
    from colliderfm.conf.layout import RESULTS as L

    encoder = job.encoder
    if job.stage == "pretrain":  # and the rest of the bundle: describe_encoder
        return dict(
            train=Path(L.split(reference, "train")),
            val=Path(L.split(reference, "val")),
            model=Path(L.encoder(job.variant, encoder)),
            history=Path(L.encoder(job.variant, encoder, "history.csv")),
            reconstruction=Path(L.encoder(job.variant, encoder, "reconstruction.csv")),
            pool=Path(L.pool()) if pool else None,
        )
    out = Path(L.model_dir(job.task, job.variant, job.stage, job.pct))
    return dict(
        train=Path(L.split(job.task, "train")),
        val=Path(L.split(job.task, "val")),
        scaler=Path(L.scaler()),
        model=out / "classifier.pt",
        history=out / "history.csv",
        pretrained=Path(L.encoder(job.variant, encoder)) if job.stage == "finetune" else None,
    )


def _train(args) -> None:
    import functools

    from colliderfm import conf as config
    from colliderfm.conf.layout import RESULTS

    settings = config.load(args.config)
    job = config.training_job(settings, args.stage, args.variant, args.fraction, task=args.task)
    paths = training_paths(job, pool=bool(config.pool_samples(settings)), reference=next(iter(settings["tasks"])))
    needed = {**paths, "scaler": Path(RESULTS.scaler())}  # pretraining: its bundle's scaler
    for key in ("train", "val", "scaler", "pretrained", "pool"):  # before torch, and before any process is spawned
        if needed.get(key) is not None and not needed[key].is_file():
            raise FileNotFoundError(
                f"{needed[key]}: input of --stage {job.stage} does not exist; run colliderfm "
                "train in a workflow directory, once snakemake has made it"
            )
    from colliderfm.models import classify, distributed, pretrain  # torch: once the arguments are known to be good

    run = pretrain.run if job.stage == "pretrain" else classify.run
    distributed.launch(functools.partial(run, job, **paths), args.nproc, device=job.device)
    if int(os.environ.get("RANK", "0")) == 0:  # one process writes (torchrun/srun start one per rank)
        describe_encoder(job, settings)


def describe_encoder(job, settings: dict) -> None:
    """A pretrained encoder's bundle beside its weights (scaler, bundle.json, MODEL_CARD.md), as the rule
    writes it: what its finetune jobs and another run's ``pretrain.from`` read."""
    from colliderfm import conf as config
    from colliderfm.conf.layout import RESULTS as L
    from colliderfm.models import encoders

    if job.stage != "pretrain":
        return
    name = job.encoder
    encoders.write_description(
        job,
        encoder=Path(L.encoder(job.variant, name)),
        history=Path(L.encoder(job.variant, name, "history.csv")),
        scaler=Path(L.scaler()),
        pool=config.pool_sources(settings),
        out_scaler=Path(L.encoder(job.variant, name, "scaler.json")),
        out_bundle=Path(L.encoder(job.variant, name, "bundle.json")),
        out_card=Path(L.encoder(job.variant, name, "MODEL_CARD.md")),
    )


def _check_config(args) -> None:
    from colliderfm import conf as config

    cfg = config.load(args.config)
    print(f"{args.config}: valid; {len(cfg['samples'])} samples, {len(config.model_specs(cfg))} models")


def _label(text: str) -> int:
    if text in {str(label) for label in range(-1, 128)}:
        return int(text)
    raise argparse.ArgumentTypeError(
        f"'{text}' is not a label: give -1 (unknown) or a class's position in its task, 0-127"
    )


def _require_suffix(path: Path, suffix: str, what: str) -> None:
    """The format a command writes, refused under another name (Parquet bytes in a .csv would mislead)."""
    if path.suffix.lower() != suffix and not path.is_dir():  # a directory: named as such when written
        raise ValueError(f"{path}: this command writes {what}; give --out a name ending in {suffix}")


def _physics_page(args) -> None:
    from colliderfm.report import physics
    from colliderfm.sim import validation

    composition, command = (
        None,
        f"`colliderfm physics-page {args.page.as_posix()} --events {args.events} --seed {args.seed}",
    )
    if args.config is not None:
        from colliderfm import conf

        samples = conf.load(args.config)["samples"]
        composition = {name: spec["generate"] for name, spec in samples.items() if "generate" in spec}
        command += " --config <the run's config>"
    if args.real_file is not None:
        from colliderfm.data.reading import open_tree

        open_tree(args.real_file)  # one message naming the file, before minutes of generation
        command += f" --real-file {args.real_file.name}"
    measured = validation.measure(args.events, args.seed, real_file=args.real_file)
    print(physics.write_page(args.page, measured, composition=composition, command=command + "`"))


def _refuse_existing(path: Path, overwrite: bool) -> None:
    from colliderfm.atomic import OutputExistsError

    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"{path}: output exists; remove it or pass --overwrite")


def parser() -> argparse.ArgumentParser:
    from colliderfm.schema import section_defaults
    from colliderfm.sim.processes import PROCESSES

    top = argparse.ArgumentParser(prog="colliderfm", description=__doc__)
    top.add_argument("--version", action="version", version=f"colliderfm {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "simulate", help="generate events (Pythia 8 + the Delphes CMS card) into a Delphes-layout ROOT file"
    )
    p.add_argument("--list", action="store_true", help="print the processes (top count, sigma, source) and exit")
    p.add_argument("--process", choices=list(PROCESSES))
    p.add_argument("--lhe", type=Path, help="shower and detect this Les Houches file (plain or gzipped) instead")
    p.add_argument("--events", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path)
    p.add_argument("--mpi", action="store_true", help="switch on multiparton interactions")
    p.add_argument("--first-event", type=int, default=0, help="number of the first event (Event.Number)")
    defaults = section_defaults("simulation")  # the workflow's, from the config schema
    p.add_argument(
        "--mediator-mass", type=float, default=defaults["mediator_mass"], help="tchan_dm mediator mass [GeV]"
    )
    p.add_argument(
        "--dm-mass", type=float, default=defaults["dm_mass"], help="mass of its invisible decay products [GeV]"
    )
    p.add_argument(
        "--mediator-width",
        type=float,
        default=defaults["mediator_width"],
        help="mediator width [GeV] (default: a scalar's decaying to a DM pair with coupling 1)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(run=_simulate)

    p = sub.add_parser("ingest", help="Delphes ROOT files -> universal variables (Parquet)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--sample", default="sample", help="value of the sample column")
    p.add_argument(
        "--label",
        type=_label,
        default=-1,
        help="a class's position in its task (-1: unknown; the workflow's tasks give labels)",
    )
    p.add_argument("--config", type=Path, help="workflow config whose selection/ingest keys to use")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("predict", help="apply a trained classifier to Delphes files")
    p.add_argument(
        "--model", required=True, type=Path, help="model directory, e.g. results/models/tops/small_5h/finetune_100pct"
    )
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--overwrite", action="store_true")
    _replica_argument(p)
    p.set_defaults(run=_predict)

    p = sub.add_parser("export", help="a trained classifier as ONNX, with a JSON sidecar (scaler, selection, inputs)")
    p.add_argument(
        "--model", required=True, type=Path, help="model directory, e.g. results/models/tops/small_5h/finetune_100pct"
    )
    p.add_argument("--out", required=True, type=Path, help="the .onnx file; the sidecar is the same name with .json")
    p.add_argument("--overwrite", action="store_true", help="replace --out and its sidecar if they exist")
    _replica_argument(p)
    p.set_defaults(run=_export)

    p = sub.add_parser("train", help="one training job of the workflow, e.g. under torchrun or srun (DDP)")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"))
    p.add_argument("--stage", required=True, choices=["pretrain", "finetune", "scratch"])
    p.add_argument("--variant", required=True)
    p.add_argument("--fraction", type=float, default=1.0, help="fraction of the training labels")
    p.add_argument("--task", help="the classifier's task (default: the config's first)")
    p.add_argument("--nproc", type=int, default=1, help="processes to spawn on this node (not under torchrun/srun)")
    p.set_defaults(run=_train)

    p = sub.add_parser("physics-page", help="the physics validation page of the embedded simulation (docs/PHYSICS.md)")
    p.add_argument("page", type=Path, nargs="?", default=Path("docs/PHYSICS.md"))
    p.add_argument("--events", type=int, default=400, help="events per process")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--config", type=Path, help="workflow config whose generated samples the page lists")
    p.add_argument("--real-file", type=Path, help="a real Delphes file of ZH events whose <n_nu> the page compares")
    p.set_defaults(run=_physics_page)

    p = sub.add_parser("check-config", help="validate a workflow config file")
    p.add_argument("config", type=Path)
    p.set_defaults(run=_check_config)
    return top


def main(argv: list[str] | None = None) -> int:
    from colliderfm.errors import USER_ERRORS, message
    from colliderfm.logs import configure

    args = parser().parse_args(argv)
    configure(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        args.run(args)
    # ValueError: bad arguments the library rejects (a negative event count); OSError: a full disk
    except (*USER_ERRORS, ValueError, OSError) as err:
        print(f"colliderfm {args.command}: error: {message(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: outputs are written atomically, so nothing partial is left
        print(f"colliderfm {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
