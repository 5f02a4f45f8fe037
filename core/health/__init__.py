"""Live health (INTERFACES.md `health`): each part's Graph permissions and the PBX.

`probes` says which minimal read proves each permission and words a failure (pure);
`check` runs them against Graph and the PBX; `store` keeps the last report in Redis and
shapes what `GET /api/status` shows. Who runs a check: the health actor (workers/actors.py),
queued hourly by the clock, after a failed run, on `POST /api/health/check`, and when status
finds the last report stale.
"""

from core.health.check import check_parts, check_pbx
from core.health.probes import PARTS
from core.health.store import HealthStore, shown

__all__ = ["PARTS", "HealthStore", "check_parts", "check_pbx", "shown"]
