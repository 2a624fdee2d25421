"""The one registry of statistics (lplr.stats): every column analyse_run writes has a scale or is declared a
per-run descriptor, and a statistic without a scale is an error that names the registry."""

import pytest

from lplr.analysis import analyse_experiment, analyse_run
from lplr.stats import NOT_SUMMARISED, scale_of, statistics_of
from test_analysis import FIT, linear_run


def test_every_statistic_analyse_run_writes_has_a_scale():
    run = linear_run()
    run["settings"]["loss_checkpoints"] = [0.5, 0.01]  # the statistics named after a level too
    row, _, _ = analyse_run(run, FIT)
    assert any(column.startswith("step_to_loss_") for column in row)
    unscaled = []
    for column in row:
        if column in NOT_SUMMARISED:
            continue
        try:
            scale_of(column)
        except KeyError:
            unscaled.append(column)
    assert unscaled == []


def test_every_summarised_column_of_an_experiment_is_in_its_summary():
    runs = {f"seed={s}": linear_run(seed=s) for s in range(3)}
    tables = analyse_experiment(runs, [], FIT)
    summarised = set(tables["summary"]["statistic"])
    assert summarised == set(statistics_of(tables["runs"].assign(condition="all"), ["condition"]))
    assert {"rate", "final_loss", "mu_0"} <= summarised and not summarised & NOT_SUMMARISED


def test_a_statistic_without_a_scale_is_an_error_naming_the_registry():
    with pytest.raises(KeyError, match="add it to lplr.stats.SCALES"):
        scale_of("brand_new_statistic")
    assert scale_of("step_to_loss_0.01") == "order" and scale_of("final_loss") == "log"
