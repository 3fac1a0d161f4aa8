"""The rank's fixed terms: its endpoints, its profile for the repro check, its rule."""
from __future__ import annotations

PING = "/api/v1/ping/"
HEALTHZ = "/api/v1/healthz/"
REPRO = "repro"
TARGET_RATIO = 0.8
RULE = ("error-free at every level first, then holds under repro (n/a counts as holding), then the "
        "higher worst ceiling ratio (healthz/ping) across levels, then the lower error rate")
README_BEGIN, README_END = "<!-- rank:begin -->", "<!-- rank:end -->"
GENERATOR_SHARE = 0.5  # k6 used at least half the CPU the lab used: the generator, not the app, set the pace
