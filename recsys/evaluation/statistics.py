"""Statistics of the evaluation: confidence intervals, paired comparisons, proportion tests.

One place for every interval and test the metrics, the reports, the tuning and the simulations
print: normal-approximation means over users (``mean_ci``, and its vectorised form from
running sums), a percentile bootstrap, the paired per-user comparison of two models, and, for
click rates, the Wilson interval and the two-proportion z-test. Also how their numbers are
shown: ``0.1234 ± 0.0056``, ``p < 0.0001``, and rounding for JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

# Ties in a paired comparison: per-user metric differences this small are equal.
_TIE_TOLERANCE = 1e-12


# -- means over users ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A mean over users with a confidence interval (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    std: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        """Half the interval's width (the ``±`` of the report)."""
        return (self.high - self.low) / 2.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        return {key: _json_number(value) for key, value in asdict(self).items()}


def z_value(level: float) -> float:
    """The two-sided standard-normal quantile of a confidence level (1.96 for 0.95)."""
    _check_level(level)
    return float(stats.norm.ppf(0.5 + level / 2.0))


def mean_ci(values: npt.ArrayLike, *, level: float = 0.95) -> Estimate:
    """Mean and normal-approximation CI (mean ± z * sd / sqrt(n)) over the finite values."""
    x = _finite(values)
    _check_level(level)
    n = int(x.shape[0])
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, level)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, n, level)
    std = float(x.std(ddof=1))
    half = z_value(level) * std / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, std, n, level)


def mean_ci_from_sums(
    total: FloatArray, squares: FloatArray, n: int, *, level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Per column: the mean and ``mean_ci``'s half-width, from sums of values and squares."""
    mean = total / max(n, 1)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    variance = np.maximum(squares - n * mean**2, 0.0) / (n - 1)
    return mean, z_value(level) * np.sqrt(variance / n)


def bootstrap_ci(
    values: npt.ArrayLike,
    *,
    rng: np.random.Generator,
    resamples: int = 2000,
    level: float = 0.95,
) -> Estimate:
    """Mean and percentile-bootstrap CI over users (resampled with ``rng``)."""
    x = _finite(values)
    _check_level(level)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = int(x.shape[0])
    if n < 2:
        return mean_ci(x, level=level)
    means = x[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Estimate(float(x.mean()), float(low), float(high), float(x.std(ddof=1)), n, level)


# -- two models on the same users ---------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    """A model's per-user metric minus a reference model's on the same users."""

    mean_diff: float
    low: float
    high: float
    t: float
    p_value: float
    n: int
    better: int
    worse: int
    tied: int
    level: float = 0.95

    @property
    def significant(self) -> bool:
        """True when the CI excludes zero (two-sided test at 1 - level)."""
        return bool(self.p_value < 1.0 - self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None), plus ``significant``."""
        out = {key: _json_number(value) for key, value in asdict(self).items()}
        out["significant"] = self.significant
        return out


def paired_comparison(
    values: npt.ArrayLike, reference: npt.ArrayLike, *, level: float = 0.95
) -> PairedComparison:
    """Paired difference ``values - reference`` per user: mean, normal CI, paired t-test.

    Users where either value is NaN are left out. The t statistic is mean / (sd / sqrt(n)) with
    a two-sided p-value from Student's t with n - 1 degrees of freedom.
    """
    a = np.asarray(values, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values need equal lengths, got {a.shape[0]} and {b.shape[0]}")
    _check_level(level)
    both = np.isfinite(a) & np.isfinite(b)
    d = a[both] - b[both]
    n = int(d.shape[0])
    tied = int((np.abs(d) <= _TIE_TOLERANCE).sum())
    better = int((d > _TIE_TOLERANCE).sum())
    worse = n - tied - better
    if n < 2:
        mean = float(d.mean()) if n else math.nan
        return PairedComparison(
            mean, math.nan, math.nan, math.nan, math.nan, n, better, worse, tied, level
        )
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    half = z_value(level) * se
    if se == 0.0:
        t, p = (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), df=n - 1))
    return PairedComparison(mean, mean - half, mean + half, t, p, n, better, worse, tied, level)


# -- proportions (click rates) ------------------------------------------------------------------


@dataclass(frozen=True)
class ProportionTest:
    """Rate B minus rate A with a Wald interval, and the pooled two-proportion z-test."""

    difference: float
    low: float
    high: float
    z: float
    p_value: float
    level: float = 0.95

    @property
    def significant(self) -> bool:
        """True when p < 1 - level."""
        return bool(self.p_value < 1.0 - self.level)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "difference_b_minus_a": rounded(self.difference),
            "ci": [rounded(self.low), rounded(self.high)],
            "z": rounded(self.z),
            "p_value": rounded(self.p_value, 8),
            "level": self.level,
            "significant": self.significant,
        }


def wilson_interval(clicks: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``clicks / n`` (NaN when n is 0)."""
    if n <= 0:
        return math.nan, math.nan
    z = z_value(level)
    p = clicks / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(
    clicks_a: int, n_a: int, clicks_b: int, n_b: int, *, level: float = 0.95
) -> ProportionTest:
    """rate_b - rate_a: Wald CI (unpooled) and two-sided z-test with the pooled rate."""
    if n_a < 1 or n_b < 1:
        raise ValueError(f"both arms need users, got {n_a} and {n_b}")
    p_a, p_b = clicks_a / n_a, clicks_b / n_b
    diff = p_b - p_a
    half = z_value(level) * math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    pooled = (clicks_a + clicks_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0.0:
        z, p_value = 0.0, 1.0  # both arms all-click or no-click: identical rates
    else:
        z = diff / se
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    return ProportionTest(diff, diff - half, diff + half, z, p_value, level)


# -- showing the numbers ------------------------------------------------------------------------


def format_estimate(estimate: Estimate, *, digits: int = 4) -> str:
    """``0.1234 ± 0.0056`` (just the mean when there is no interval)."""
    if math.isnan(estimate.mean):
        return "n/a"
    if math.isnan(estimate.half_width):
        return f"{estimate.mean:.{digits}f}"
    return f"{estimate.mean:.{digits}f} ± {estimate.half_width:.{digits}f}"


def format_p_value(p: float) -> str:
    """``< 0.0001`` or ``0.0123`` (``n/a`` for NaN)."""
    if math.isnan(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def p_clause(p: float) -> str:
    """``p < 0.0001`` or ``p = 0.0123``, for a sentence."""
    shown = format_p_value(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def rounded(value: float, digits: int = 6) -> float | None:
    """``value`` rounded for JSON; NaN becomes None."""
    return None if math.isnan(value) else round(value, digits)


# -- helpers ------------------------------------------------------------------------------------


def _finite(values: npt.ArrayLike) -> FloatArray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level!r}")


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
