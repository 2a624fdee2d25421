"""Config conditions are parsed and walked, never executed: the grammar of lplr.expressions."""

import numpy as np
import pandas as pd
import pytest

from lplr.expressions import ExpressionError, columns, evaluate, parse

RUNS = pd.DataFrame({"lqcr_negative": [0, 2, np.nan], "lplr_exit_step": [np.nan, 21.0, 300.0],
                     "has_window": [True, False, True], "step_to_loss_0.01": [10.0, 20.0, 30.0]})


@pytest.mark.parametrize("condition, expected", [
    ("lqcr_negative > 0", [False, True, False]),  # a missing value compares false
    ("isna(lplr_exit_step)", [True, False, False]),
    ("notna(lplr_exit_step) and lplr_exit_step < 100", [False, True, False]),
    ("not has_window", [False, True, False]),
    ("has_window and (lqcr_negative == 0 or isna(lqcr_negative))", [True, False, True]),
    ("step_to_loss_0.01 >= 2e1", [False, True, True]),
    ("-1 < lqcr_negative", [True, True, False]),
    ("lplr_exit_step != inf and not not has_window", [True, False, True]),
    ("lqcr_negative > 0 or lqcr_negative <= 0", [True, True, False]),
])
def test_conditions_evaluate_row_by_row(condition, expected):
    assert evaluate(condition, RUNS).tolist() == expected


@pytest.mark.parametrize("condition, token", [
    ("@pd.io.common.os.system('touch MARKER') == 0", "'@pd.io.commo'"),  # the attack of issue 25
    ("lqcr_negative.to_csv('/tmp/x')", "\"'/tmp/x')\""),  # a string: no such token
    ("lqcr_negative.to_csv > 0", "'lqcr_negative.to_csv' is not a statistic"),  # an attribute: unknown name
    ("__import__('os')", "\"'os')\""),
    ("__import__ > 0", "'__import__' is not a statistic"),
    ("lqcr_negative > 0; x", "';"),
    ("lqcr_negative[0] > 1", "'[0] > 1'"),
    ("lqcr_negative > 'a'", "\"'a'\""),
    ("lqcr_negative + 1 > 0", "'+ 1 > 0'"),
    ("3", "the end"),
    ("lqcr_negative >", "the end"),
    ("(lqcr_negative > 0", "the end"),
    ("", "empty"),
])
def test_anything_else_is_refused_naming_key_and_token(condition, token):
    with pytest.raises(ExpressionError, match=r"claims\.list\[3\]\.rule\.violation: .*") as error:
        parse(condition, "claims.list[3].rule.violation", is_column=RUNS.columns.__contains__)
    assert token in str(error.value)


def test_nothing_outside_the_frame_is_reached(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for condition in ("@pd.io.common.os.system('touch MARKER') == 0", "has_window.to_csv('MARKER')"):
        with pytest.raises(ExpressionError):
            evaluate(condition, RUNS)
    assert not list(tmp_path.iterdir())


def test_depth_and_length_are_bounded():
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("not " * 50 + "has_window")
    with pytest.raises(ExpressionError, match="at most 500"):
        parse(" or ".join(["has_window"] * 100))


def test_a_non_boolean_column_alone_is_refused_at_evaluation():
    with pytest.raises(ExpressionError, match="'lqcr_negative' is not boolean.*lqcr_negative > 0"):
        evaluate("lqcr_negative", RUNS)


def test_columns_lists_what_a_condition_reads():
    assert columns(parse("isna(a) or b > 1 and not c")) == {"a", "b", "c"}
