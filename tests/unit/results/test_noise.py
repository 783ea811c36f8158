"""The noise tests against textbook values (Student's t tables, the normal distribution)."""

import math

import pytest

from loadtest_operator.results.noise import (
    Moments,
    Proportion,
    StoredMoments,
    student_t_two_sided,
    two_proportions,
    welch,
)


@pytest.mark.parametrize(
    ("t", "df", "p"),
    [
        (2.228139, 10, 0.05),  # the t table's 97.5 % point at 10 df
        (2.0, 10, 0.073388),
        (12.0, 2, 1 - 12 / math.sqrt(146)),  # df = 2 has a closed form: 1 - t / sqrt(t^2 + 2)
        (1.959964, 1e9, 0.05),  # the normal limit
        (0.0, 5, 1.0),
        (-2.0, 10, 0.073388),
    ],
)
def test_student_t_two_sided(t: float, df: float, p: float) -> None:
    assert student_t_two_sided(t, df) == pytest.approx(p, abs=1e-6)


class Fixed:
    def __init__(self, moments: Moments) -> None:
        self.value = moments

    def moments(self) -> Moments:
        return self.value


def test_welch_by_hand() -> None:
    # a: n=10, mean 100, sd 10; b: n=12, mean 110, sd 15. se^2 = 10 + 18.75; t = 10/sqrt(28.75) = 1.865;
    # df = 28.75^2 / (10^2/9 + 18.75^2/11) = 19.24.
    verdict = welch(Fixed(Moments(10, 100.0, 10.0)), Fixed(Moments(12, 110.0, 15.0)))
    assert verdict.test == "welch_t"
    assert "t = 1.865" in verdict.reason
    assert "df = 19.2" in verdict.reason
    assert verdict.p_value == pytest.approx(student_t_two_sided(10 / math.sqrt(28.75), 19.2446), abs=1e-4)
    assert verdict.significant is False


def test_welch_sees_a_large_shift_and_not_a_small_one() -> None:
    big = welch(StoredMoments(1000, 100.0, 20.0), StoredMoments(1000, 110.0, 20.0))
    small = welch(StoredMoments(1000, 100.0, 20.0), StoredMoments(1000, 100.5, 20.0))
    assert big.significant is True
    assert big.p_value is not None
    assert big.p_value < 1e-20
    assert small.significant is False


def test_welch_without_spread_is_untested() -> None:
    verdict = welch(StoredMoments(100, 10.0, None), StoredMoments(100, 12.0, 1.0))
    assert verdict.significant is None
    assert verdict.p_value is None
    assert "no sample count and spread" in verdict.reason
    assert welch(StoredMoments(1, 10.0, 0.0), StoredMoments(100, 12.0, 1.0)).significant is None


def test_two_proportions_by_hand() -> None:
    # 90/100 vs 80/100: pooled 0.85, se = sqrt(0.85*0.15*0.02) = 0.0505; z = -0.1/0.0505 = -1.980.
    verdict = two_proportions(Proportion(90, 100), Proportion(80, 100))
    assert "z = -1.980" in verdict.reason
    assert verdict.p_value == pytest.approx(math.erfc(1.98030 / math.sqrt(2)), abs=1e-4)
    assert verdict.significant is True
    assert two_proportions(Proportion(100, 100), Proportion(100, 100)).significant is False
    assert two_proportions(Proportion(0, 0), Proportion(1, 10)).significant is None


def test_loadgen_keeps_the_sample_stddev() -> None:
    import statistics

    from loadgen.stats import describe

    values = [1000.0, 2000.0, 4000.0, 7000.0]
    stats = describe(values, 1e-3)
    assert stats.stddev == pytest.approx(statistics.stdev(values) * 1e-3)
    assert describe([5.0]).stddev is None
