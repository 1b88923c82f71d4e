"""jobs: the work behind the handlers and the ticks."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def skipped(stage: str, exc: BaseException, **ids: object) -> None:
    """One person (or clinician, or row) could not be handled: say who and what kind of failure,
    never the data (an exception's text can quote it), and carry on with everyone else."""
    log.error(
        "skipped one person: their stored data could not be handled",
        extra={"stage": stage, "error": type(exc).__name__, **ids},
    )
