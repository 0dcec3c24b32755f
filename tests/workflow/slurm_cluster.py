"""A real, single-node SLURM cluster on localhost, for the integration test of the SLURM profile.

Everything lives in one directory: a MUNGE daemon with its own key and socket, slurmctld and
slurmd (Debian's ``slurm-wlm``) with their config, state, spool, logs and pid files. Two
partitions share the node: ``cpu`` and ``gpu``. The node advertises ``Gres=gpu:2`` backed by
placeholder device files, so ``--gpus=1`` jobs are accepted and scheduled without a GPU.
Neither partition is the default: a job submitted without ``-p`` is rejected, so every job
must name its partition. No accounting database: job status comes from ``squeue`` (jobs stay
visible for ``MinJobAge``), and ``jobcomp/filetxt`` writes one line per finished job.

The daemons run in the foreground as children of this process and are stopped by pid.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NODE = "colliderfm-node"
PARTITIONS = ("cpu", "gpu")
GPUS = 2
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "srun", "sinfo", "scancel")


def missing_programs() -> list[str]:
    """The programs of the cluster that are not installed (empty: the cluster can start)."""
    return [name for name in DAEMONS + CLIENTS if _which(name) is None]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    root: Path
    cpus: int = 2
    mem_mb: int = 64000  # declared, not measured (SlurmdParameters=config_overrides)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # ------------------------------------------------------------------ paths

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp(self) -> Path:
        return self.root / "jobcomp.txt"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for client commands (and everything they start) to use this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        for name in list(env):  # a SLURM job around the test must not leak into this cluster
            if name.startswith(("SLURM_", "SBATCH_", "SRUN_")) and name != "SLURM_CONF":
                del env[name]
        return env

    # ------------------------------------------------------------------ config

    def _write_config(self) -> None:
        host = socket.gethostname().split(".")[0]
        for sub in ("etc", "state", "spool", "log", "run", "dev", "munge", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for i in range(GPUS):
            (self.root / "dev" / f"gpu{i}").touch()  # placeholder device files for gres.conf
        munge_socket = self.root / "munge" / "munge.socket"
        ctld_port, slurmd_port = _free_port(), _free_port()
        r = self.root
        self.conf.write_text(f"""\
ClusterName=colliderfm-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
MinJobAge=3600
KillWait=5
NodeName={NODE} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} Gres=gpu:{GPUS} State=UNKNOWN
PartitionName=cpu Nodes={NODE} MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP
""")
        (self.conf.parent / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={r}/dev/gpu[0-{GPUS - 1}]\n")
        (self.conf.parent / "plugstack.conf").write_text("")
        # The slurm executor's job step starts `srun` with every SLURM_* variable removed
        # but a few job ids, SLURM_CONF included; on a real cluster srun then reads
        # /etc/slurm/slurm.conf. This wrapper, first on the jobs' PATH, points it back here.
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={shlex.quote(str(self.conf))} exec {_which("srun")} "$@"\n')
        srun.chmod(0o755)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)

    # ------------------------------------------------------------------ start / stop

    def start(self, timeout: float = 60) -> None:
        self._write_config()
        m = self.root / "munge"
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={m / 'munge.socket'}",
                f"--key-file={m / 'munge.key'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--pid-file={m / 'munged.pid'}",
                f"--seed-file={m / 'munged.seed'}",
            ],
        )
        self._wait(lambda: (m / "munge.socket").exists(), timeout, "munged socket")
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self.run(["scontrol", "ping"], check=False).returncode == 0, timeout, "slurmctld")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", NODE])
        self._wait(lambda: self.node_state() in ("idle", "mixed", "allocated"), timeout, "node idle")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
        )
        log.close()

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}:\n" + self.logs())
            if ready():
                return
            time.sleep(0.3)
        raise TimeoutError(f"SLURM test cluster: no {what} after {timeout:.0f} s\n" + self.logs())

    def stop(self) -> None:
        """Cancel what is left of the jobs, then stop slurmd, slurmctld and munged (by pid)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            ids = self.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i"], check=False).stdout.split()
            if ids:
                self.run(["scancel", *ids], check=False)
                deadline = time.monotonic() + 15
                while (
                    time.monotonic() < deadline
                    and self.run(["squeue", "-h", "-t", "PD,R,CG", "-o", "%i"], check=False).stdout.strip()
                ):
                    time.sleep(0.5)
        for name in reversed(DAEMONS):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> "SlurmCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries

    def run(self, argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, env=self.env(), check=check, timeout=60, **kwargs)

    def node_state(self) -> str:
        out = self.run(["sinfo", "-h", "-N", "-n", NODE, "-o", "%T"], check=False).stdout.split()
        return out[0].rstrip("*~#") if out else ""

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still holds (finished ones for MinJobAge), as scontrol's key=value pairs."""
        out = self.run(["scontrol", "show", "job", "--oneliner"]).stdout
        return [_key_values(line) for line in out.splitlines() if line.startswith("JobId=")]

    def completed(self) -> list[dict[str, str]]:
        """One record per finished job from jobcomp/filetxt."""
        if not self.jobcomp.exists():
            return []
        return [_key_values(line) for line in self.jobcomp.read_text().splitlines() if line.strip()]

    def logs(self, tail: int = 40) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)


def _key_values(line: str) -> dict[str, str]:
    """``A=1 B=x y=z C=`` -> dict; a value runs to the next `` Key=`` (values may hold spaces)."""
    out: dict[str, str] = {}
    key = None
    for word in line.split(" "):
        name, eq, value = word.partition("=")
        if eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_:/]*", name):
            key = name
            out[key] = value
        elif key is not None:
            out[key] += " " + word
    return out
