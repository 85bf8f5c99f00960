"""The benchmark's targets, and how ratios measured over rounds become met, missed or too noisy.

Every ratio is taken within a round (ours and its reference loaded back to back), so what
the rest of a shared machine does between rounds cancels; the rounds' ratios are then
summed up by their median and interquartile range (IQR). A verdict needs the rounds to
agree: when the IQR straddles the wanted value, or is wide against the median, the honest
answer is that this run cannot tell.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# The widest IQR, as a share of the median, that still gives a verdict.
NOISE_WIDTH = 0.15
MET, MISSED, TOO_NOISY = "met", "missed", "too noisy"
NOISE_RULE = (
    "A target is met or missed only when its rounds agree: if the interquartile range of "
    "the rounds' ratios straddles the wanted value, or is wider than "
    f"{NOISE_WIDTH:.0%} of the median, it is reported as {TOO_NOISY}."
)


@dataclass(frozen=True)
class Spread:
    """The median of per-round ratios and their interquartile range."""

    median: float
    low: float  # the first quartile
    high: float  # the third quartile

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of one ratio per round (a single round has no range)."""
        if len(values) == 1:
            return cls(values[0], values[0], values[0])
        low, median, high = statistics.quantiles(values, n=4, method="inclusive")
        return cls(median, low, high)

    def __str__(self) -> str:
        return f"{self.median:.2f} (IQR {self.low:.2f}–{self.high:.2f})"  # noqa: RUF001


@dataclass(frozen=True)
class Target:
    """A wanted ratio of ours to a reference: requests/s served, or start-up CPU time."""

    label: str
    wanted: float
    ours: str = ""  # the scenarios compared; none for start-up, which serves nothing
    reference: str = ""
    at_most: bool = False  # a ratio of times, where less is better

    @property
    def wanted_text(self) -> str:
        """What is wanted, as the report says it: at least a ratio, or at most a time."""
        return f"≤ {self.wanted}× the time" if self.at_most else f"≥ {self.wanted}"  # noqa: RUF001

    def reached(self, ratio: float) -> bool:
        """Whether this ratio is on the good side of the wanted value."""
        return ratio <= self.wanted if self.at_most else ratio >= self.wanted

    def verdict(self, spread: Spread) -> str:
        """MET, MISSED, or TOO_NOISY by NOISE_RULE."""
        straddles = self.reached(spread.low) != self.reached(spread.high)
        if straddles or spread.high - spread.low > NOISE_WIDTH * spread.median:
            return TOO_NOISY
        return MET if self.reached(spread.median) else MISSED


# Ours against a reference served in the same run, under every worker config.
SERVED = [
    Target(
        "page not using the session (cookie sent) vs bare Flask hello",
        0.85,
        "ours_untouched",
        "bare",
    ),
    Target(
        "rendered home page without a cookie vs bare Flask hello",
        0.75,
        "ours_home_nocookie",
        "bare",
    ),
    Target(
        "rendered home page with a session cookie vs bare Flask + our session interface "
        "reading the session",
        0.9,
        "ours_home",
        "floor_ro",
    ),
    Target("session read-only route vs stock Flask-Session read-only", 1.2, "ours_ro", "stock_ro"),
    Target("session read+write route vs stock read+write", 1.0, "ours_rw", "stock_rw"),
    Target(
        "middleware overhead (ours vs ours without middleware, untouched page)",
        0.95,
        "ours_untouched",
        "ours_nomw_untouched",
    ),
    # Not a target of ours but the floor of the one above: the same headers sent by a layer
    # that does nothing else. Where this misses, no middleware sending them can meet it.
    Target(
        "floor of the middleware overhead: its headers alone (constants, one closure) vs "
        "ours without middleware, untouched page",
        0.95,
        "headers_floor_untouched",
        "ours_nomw_untouched",
    ),
    Target(
        "metrics overhead (ours vs ours without metrics, untouched page)",
        0.95,
        "ours_untouched",
        "ours_nometrics_untouched",
    ),
    # The token's row and owner in one query, then its counters (per address, per token) in
    # Redis: a floor of its own, set from the first measurements (0.23-0.27).
    Target(
        "API read with a token (GET /api/v1/me) vs bare Flask JSON hello",
        0.2,
        "ours_api_me",
        "bare_json",
    ),
]
STARTUP = Target(
    'import + `create_app("production")` CPU vs the library-import reference', 1.15, at_most=True
)
