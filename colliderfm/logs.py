"""Running one workflow job: its log file, and errors a user can act on."""

from __future__ import annotations

import contextlib
import logging
import sys

from colliderfm.atomic import OutputExistsError
from colliderfm.config import ConfigError
from colliderfm.ingest import IngestError
from colliderfm.standardize import DatasetError

USER_ERRORS = (ConfigError, IngestError, DatasetError, OutputExistsError, FileNotFoundError)


def configure(stream=None, level=logging.INFO) -> None:
    logging.basicConfig(stream=stream or sys.stderr, level=level, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@contextlib.contextmanager
def job(snakemake):
    """Send logging, warnings and progress bars to the job's log; a user error ends the job
    with its one-line message (in the log and on the terminal) instead of a traceback."""
    terminal = sys.stderr
    with open(snakemake.log[0], "w") as log_file, contextlib.redirect_stderr(log_file), \
            contextlib.redirect_stdout(log_file):
        configure(log_file)
        logging.captureWarnings(True)
        try:
            yield
        except USER_ERRORS as err:
            logging.getLogger("colliderfm").error("%s", err)
            print(f"colliderfm error: {err}", file=terminal)
            sys.exit(1)
