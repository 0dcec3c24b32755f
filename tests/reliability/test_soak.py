"""Soak (marked ``soak``, left out of the default run): 2 million events through ingestion and
standardisation, each stage in its own process as in the workflow, with its peak memory bounded
by that of a 200 000-event run.

    pytest -m soak -s      # about 4 minutes on an idle 2-core machine; prints the measured numbers
"""

from __future__ import annotations

import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
import soak  # noqa: E402  (bench/soak.py: the same measurement as a benchmark script)


@pytest.mark.soak
def test_two_million_events_ingest_and_standardise_in_bounded_memory(tmp_path):
    result = soak.run(2_000_000, 200_000, tmp_path)
    print("\n" + soak.report(result))
    for name, events in (("reference", 200_000), ("soak", 2_000_000)):
        r = result[name]
        assert r["events"] == events
        assert sum(r["split"].values()) == events + len(soak.OTHERS) * soak.SMALL_EVENTS, "every event kept and split"
    assert result["ratio"] <= soak.GOAL, "peak memory grows with the sample: not chunked"
