"""Running one workflow job: its log file, and errors a user can act on."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from colliderfm.errors import USER_ERRORS, message


def configure(stream=None, level=logging.INFO) -> None:
    logging.basicConfig(
        stream=stream or sys.stderr, level=level, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@contextlib.contextmanager
def job(snakemake):
    """Send logging, warnings, progress bars and any child process's output to the job's log;
    a user error ends the job with its one-line message (in the log and on the terminal)
    instead of a traceback."""
    terminal = os.fdopen(os.dup(2), "w")
    saved = [os.dup(1), os.dup(2)]
    with open(snakemake.log[0], "w") as log_file:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in (1, 2):  # at the descriptor level, so spawned workers write here too
            os.dup2(log_file.fileno(), fd)
        configure(log_file)  # the file itself: sys.stderr may not be descriptor 2 (pytest)
        logging.captureWarnings(True)
        try:
            yield
        except USER_ERRORS as err:
            logging.getLogger("colliderfm").error("%s", message(err))
            print(f"colliderfm error: {message(err)}", file=terminal, flush=True)
            sys.exit(1)
        except Exception:
            # a bug, not a user error: its traceback belongs in the job's log, which Snakemake shows
            logging.getLogger("colliderfm").exception("unexpected error")
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, original in zip((1, 2), saved):
                os.dup2(original, fd)
                os.close(original)
            terminal.close()
