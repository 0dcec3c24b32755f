#!/usr/bin/env bash
# Debian packages for tests/workflow/test_slurm.py: a single-node SLURM (slurmctld + slurmd) and MUNGE.
# Idempotent and quiet; for a fresh Debian machine, run as root. Starts no daemon (the test
# starts and stops its own cluster from a temporary directory) and writes no SLURM config.
set -euo pipefail

packages=(slurm-wlm munge)   # slurm-wlm: slurmctld, slurmd, slurm-client (sbatch, squeue, ...)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-slurm.sh: needs root to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null
