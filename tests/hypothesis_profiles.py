"""Hypothesis profiles, chosen by `HYPOTHESIS_PROFILE` (default `ci`).

- `ci`: derandomized — the same examples on every run, so `make test` passes or fails the
  same way each time; a failure prints the blob that replays it.
- `explore`: fresh random examples, many more of them, to look for new failures on demand;
  those found are saved in `.hypothesis/` and replayed first by the next `explore` run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 300
EXPLORE_EXAMPLES = 1000

settings.register_profile("ci", derandomize=True, max_examples=CI_EXAMPLES, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, max_examples=EXPLORE_EXAMPLES,
                          deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
