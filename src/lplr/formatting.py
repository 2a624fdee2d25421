"""The two ways this project writes a number, used everywhere (run ids, table keys, labels, the paper).

- `format_value`: identifiers (run ids, condition labels, number keys). Exact and short: the `%g` form
  when it reads back as the same float, else Python's shortest round-trip repr, so no two settings
  share an id and `lr=0.0001` is `lr=0.0001` in a folder name, a table and a macro name alike.
- `format_number`: measured values quoted to a reader, at `digits` significant digits, plain ASCII
  (0.0123, 12.3, 1.23e-5; NaN -> 'n/a'), so a PDF's text can be matched against the tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SEPARATOR = ","  # between the settings of a condition label (tables, paper keys, figure notes)
# Run ids join settings with '+', not ',': a cluster job gets its run id through `snakemake
# --target-jobs rule:experiment=...,run=...`, which Snakemake 9 splits at every comma (quoted or not).
RUN_ID_SEPARATOR = "+"


def format_value(value: Any) -> str:
    """An identifier's spelling of a setting: ints as ints, floats exactly and short, text as is."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        short = f"{value:g}"
        # 1e+06 -> 1e06: no run id separator inside a value
        return (short if float(short) == value else repr(value)).replace("e+", "e")
    return str(value)


def format_number(value: Any, digits: int = 3) -> str:
    """`digits` significant digits, plain ASCII: 0.0123, 12.3, 1.23e-05 -> '1.23e-5'; NaN or None -> 'n/a'."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (int, np.integer)) or (float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{digits}g}"


def condition_label(settings, columns: list[str]) -> str:
    """A condition's label in tables and paper keys: 'width=64' or 'init=he,lr=0.2,lr_mode=fixed' (columns in
    the given order; SEPARATOR between settings: a label is never a wildcard, unlike a run id)."""
    return SEPARATOR.join(f"{column}={format_value(settings[column])}" for column in columns)


def parse_run_id(run_id: str) -> dict:
    """'width=64+lr=0.0001+seed=0' -> {'width': 64, 'lr': 0.0001, 'seed': 0}: numbers parsed, text kept."""
    settings = {}
    for part in str(run_id).split(RUN_ID_SEPARATOR):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        for cast in (int, float):
            try:
                settings[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            settings[key] = value
    return settings


UNBOUNDED_DECADES = 10  # an interval of a positive quantity wider than this many decades bounds nothing


def interval_unbounded(low, high, n) -> bool:
    """Whether an across-seed interval says nothing for want of seeds: fewer than 2 values, a bound that is not
    finite, or bounds that span more than UNBOUNDED_DECADES decades (n = 2 gives t-intervals like [1e-100, 1e97])."""
    if n is None or not n >= 2 or not (np.isfinite(low) and np.isfinite(high)):
        return True
    if low > 0:
        return math.log10(high / low) > UNBOUNDED_DECADES
    return max(abs(low), abs(high)) > 10.0**UNBOUNDED_DECADES


def format_interval(estimate, low, high, n, n_runs=None, latex: bool = False) -> str:
    """'1.23 [0.9, 1.5; n=3/3]' (values in the estimate / runs of the condition), or where the interval is
    unbounded for want of seeds '1.23 (undecidable with 2 seeds)'; in LaTeX the n in math mode."""
    count = f"{int(n)}/{int(n_runs)}" if n_runs is not None and np.isfinite(n_runs) else f"{int(n)}"
    if n is None or not np.isfinite(n):
        return f"{format_number(estimate)} (no values)"
    if interval_unbounded(low, high, n):
        return f"{format_number(estimate)} (undecidable with {int(n)} seed{'s' if int(n) != 1 else ''})"
    where = f"$n={count}$" if latex else f"n={count}"
    return f"{format_number(estimate)} [{format_number(low)}, {format_number(high)}; {where}]"
