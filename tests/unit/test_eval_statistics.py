"""Statistics: normal and bootstrap intervals, the paired t-test, Wilson and the z-test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from recsys.evaluation import statistics
from recsys.evaluation.statistics import two_proportion_test, wilson_interval


def test_mean_ci_is_the_normal_approximation() -> None:
    e = statistics.mean_ci([0.0, 1.0, 1.0, 0.0, math.nan])
    sd = math.sqrt(1 / 3)
    assert e.n == 4 and e.mean == 0.5 and e.std == pytest.approx(sd)
    assert e.half_width == pytest.approx(1.959964 * sd / 2, rel=1e-6)
    single = statistics.mean_ci([0.3])
    assert single.mean == 0.3 and math.isnan(single.low)


def test_bootstrap_is_seeded_and_close_to_the_normal_interval() -> None:
    values = np.random.default_rng(0).random(400)
    first = statistics.bootstrap_ci(values, rng=np.random.default_rng(1))
    again = statistics.bootstrap_ci(values, rng=np.random.default_rng(1))
    normal = statistics.mean_ci(values)
    assert first == again
    assert first.low == pytest.approx(normal.low, abs=0.005)
    assert first.high == pytest.approx(normal.high, abs=0.005)


def test_paired_comparison_is_a_paired_t_test() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0, math.nan])
    b = np.array([0.0, 2.0, 1.0, 5.0, 1.0])
    c = statistics.paired_comparison(a, b)
    assert (c.n, c.better, c.worse, c.tied) == (4, 2, 1, 1)
    assert c.mean_diff == pytest.approx(0.5)
    se = math.sqrt(5 / 3) / 2
    assert c.t == pytest.approx(0.5 / se)
    reference = stats.ttest_rel(a[:4], b[:4])
    assert c.p_value == pytest.approx(reference.pvalue)
    assert c.high - c.mean_diff == pytest.approx(1.959964 * se, rel=1e-6)
    assert not c.significant
    clear = statistics.paired_comparison(np.arange(50) % 5 + 1.0, np.arange(50) % 5 + 0.0)
    assert clear.significant and clear.p_value == 0.0 and clear.better == 50


def test_wilson_interval_known_values() -> None:
    # Textbook values (Newcombe 1998, table I / any Wilson calculator), z = 1.95996.
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_two_proportion_z_test_known_values() -> None:
    # 30/100 vs 50/100: pooled 0.4, se = sqrt(0.4 * 0.6 * 0.02) = 0.069282, z = 2.8868.
    result = two_proportion_test(30, 100, 50, 100)
    assert result.difference == pytest.approx(0.2)
    assert result.z == pytest.approx(2.88675, abs=1e-4)
    assert result.p_value == pytest.approx(0.003892, abs=1e-5)
    assert result.significant
    # Wald half-width: 1.96 * sqrt(0.3 * 0.7 / 100 + 0.5 * 0.5 / 100) = 0.13294.
    assert result.high - result.difference == pytest.approx(0.13294, abs=1e-4)
    same = two_proportion_test(10, 100, 10, 100)
    assert same.z == 0.0 and same.p_value == pytest.approx(1.0) and not same.significant
    assert two_proportion_test(0, 50, 0, 50).p_value == 1.0
    with pytest.raises(ValueError, match="both arms need users"):
        two_proportion_test(0, 0, 1, 10)
