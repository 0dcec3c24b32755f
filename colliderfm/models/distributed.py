"""Data-parallel training (DDP) across processes: NCCL on CUDA, gloo on the CPU.

Three ways in, one code path:
- a workflow job given ``gpu`` > 1 spawns one process per GPU on its node (:func:`launch`);
- ``torchrun --nproc_per_node=N -m colliderfm train ...`` sets RANK/WORLD_SIZE itself;
- ``srun`` across nodes: SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID are mapped to the same.
The training loop (:mod:`colliderfm.models.train`) splits every batch across ranks and only
rank 0 writes checkpoints and outputs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def _from_slurm() -> None:
    """Under ``srun`` with several tasks, express SLURM's task ids as torch's variables."""
    if "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1 or "SLURM_PROCID" not in os.environ:
        return
    os.environ.setdefault("WORLD_SIZE", os.environ["SLURM_NTASKS"])
    os.environ.setdefault("RANK", os.environ["SLURM_PROCID"])
    os.environ.setdefault("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
    os.environ.setdefault("MASTER_ADDR", os.environ.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"))
    os.environ.setdefault("MASTER_PORT", "29500")


def world_size() -> int:
    _from_slurm()
    return int(os.environ.get("WORLD_SIZE", "1"))


def backend(device: str) -> str:
    return "nccl" if device != "cpu" and torch.cuda.is_available() else "gloo"


@contextlib.contextmanager
def process_group(device: str = "auto"):
    """Join the process group described by the environment, if there is more than one process."""
    if world_size() <= 1 or dist.is_initialized():
        yield
        return
    chosen = backend(device)
    if chosen == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group(chosen)
    log.info("rank %d of %d joined (%s)", dist.get_rank(), dist.get_world_size(), chosen)
    try:
        yield
    finally:
        dist.barrier()
        dist.destroy_process_group()


def processes_for(gpus: int, device: str) -> int:
    """How many processes a workflow job with ``gpus`` GPUs should train with."""
    if gpus > 1 and device != "cpu" and torch.cuda.is_available():
        return min(gpus, torch.cuda.device_count())
    return 1


def launch(fn, nprocs: int, *args, device: str = "auto") -> None:
    """Run ``fn(*args)`` in ``nprocs`` local processes forming one group (1: this process)."""
    if nprocs <= 1 or world_size() > 1:
        with process_group(device):
            fn(*args)
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_worker, args=(nprocs, port, device, fn, args), nprocs=nprocs, join=True)


def launch_job(run, job, *, gpus: int, **files) -> None:
    """``run(job, **files)`` (a training stage's ``run``) on as many processes as the job's GPUs (DDP), or one."""
    launch(functools.partial(run, job, **files), processes_for(gpus, job.device), device=job.device)


def _worker(rank: int, nprocs: int, port: int, device: str, fn, args) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nprocs), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    from colliderfm.logs import configure

    configure()
    with process_group(device):
        fn(*args)
