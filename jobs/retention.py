"""The retention tick (hourly): old message texts scrubbed, stale invite data removed."""

from __future__ import annotations

import logging

from bot.runtime import Runtime
from storage import retention

log = logging.getLogger(__name__)


def purge_old(rt: Runtime) -> dict[str, int]:
    done = retention.purge(rt.db, rt.clock.now(), rt.settings.OUTBOX_RETENTION_DAYS)
    log.info("retention tick", extra=done)
    return done
