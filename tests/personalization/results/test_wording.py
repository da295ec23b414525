"""One way to state a lift: a signed percent over a named baseline, never a ratio."""

from __future__ import annotations

from personalization.results.dashboard import lift_words as comparison_lift_words
from personalization.results.dashboard import offline_lift_words
from personalization.results.wording import change_words, lift_ratio, lift_words


def test_a_ratio_reads_as_a_signed_percent_over_its_baseline():
    assert lift_words(2.17, "uniform random") == "+117 % over uniform random"
    assert lift_words(1.85) == "+85 %"
    assert lift_words(0.9) == "-10 %"
    assert lift_words(None) == "not estimated"


def test_a_ratio_needs_a_baseline_above_zero():
    assert lift_ratio(0.06, 0.05) == 0.06 / 0.05
    assert lift_ratio(0.06, 0.0) is None
    assert lift_ratio(0.06, -0.01) is None
    assert lift_ratio(None, 0.05) is None


def test_the_dashboard_states_lifts_with_the_same_words():
    assert offline_lift_words(1.2) == lift_words(1.2) == change_words(0.2)
    assert comparison_lift_words({"lift": 0.85, "sequential_ci95": None}) == "+85 %"
    assert change_words(None) == "—"


def test_verdicts_and_the_terminal_use_the_same_words():
    from demo.management.commands.simulate_traffic import model_summary
    from personalization.engine.statistics.results import percent_words

    assert change_words(0.034) == percent_words(0.034) == "+3.4 %"
    assert model_summary(2.17, 0.91) == "model: +117 % over uniform random in expected click-through, 91% of the oracle"
