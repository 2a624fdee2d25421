"""Per-run conditions in config (a claim's `violation`), parsed by this module and never executed as code.

A config may come from someone else (a restored bundle), so a condition is data: a small grammar over the
columns of runs.csv, evaluated by walking its tree. Nothing is looked up by name outside the frame's
columns; there are no calls, attributes or subscripts.

    condition  := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" condition ")" | test
    test       := "isna(" COLUMN ")" | "notna(" COLUMN ")"
                | value [COMPARE value]          a bare value must be a boolean column
    value      := COLUMN | NUMBER | "-" NUMBER | "inf" | "true" | "false"
    COMPARE    := "<" | "<=" | ">" | ">=" | "==" | "!="

COLUMN is a runs.csv column name (letters, digits, "_" and ".", e.g. step_to_loss_0.01). A comparison with
a missing value is false (IEEE and pandas semantics), so `x > 1` is false for a run without x; test for
that case with isna(x).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

MAX_LENGTH = 500  # characters: a condition is one line of config, not a program
MAX_DEPTH = 20  # nesting of not/parentheses, so a hostile condition cannot exhaust the stack

COMPARISONS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
               "!=": np.not_equal}
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
                    r"|(?P<op><=|>=|==|!=|<|>|\(|\)|-))")
KEYWORDS = {"and", "or", "not", "isna", "notna", "true", "false", "inf"}


class ExpressionError(ValueError):
    """A condition is outside the grammar or names an unknown column; the message names key and token."""


def _tokens(text: str, key: str) -> list[tuple[str, str, int]]:
    """[(kind, token, position)] of `text`; anything the grammar does not know is refused here."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"{key}: the condition is {len(text)} characters, at most {MAX_LENGTH} are allowed.")
    out, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            start = len(text) - len(text[position:].lstrip())
            raise ExpressionError(f"{key}: {text[start:start + 12]!r} at character {start} is not part of a "
                                  f"condition. {_ALLOWED}")
        kind = match.lastgroup
        out.append((kind, match.group(kind), match.start(kind)))
        position = match.end()
    return out


_ALLOWED = ("Allowed: runs.csv column names, numbers, < <= > >= == !=, and/or/not, parentheses, isna(column), "
            "notna(column), true/false/inf (lplr.expressions).")


class _Parser:
    def __init__(self, text: str, key: str, is_column: Callable[[str], bool] | None):
        self.text, self.key, self.is_column = text, key, is_column
        self.tokens, self.i = _tokens(text, key), 0

    def error(self, message: str) -> ExpressionError:
        if self.i < len(self.tokens):
            _, token, position = self.tokens[self.i]
            return ExpressionError(f"{self.key}: {message}, found {token!r} at character {position} of "
                                   f"{self.text!r}. {_ALLOWED}")
        return ExpressionError(f"{self.key}: {message}, found the end of {self.text!r}. {_ALLOWED}")

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.tokens) or (expected is not None and self.tokens[self.i][1] != expected):
            raise self.error(f"expected {expected!r}" if expected else "expected more")
        self.i += 1
        return self.tokens[self.i - 1]

    def parse(self):
        if not self.tokens:
            raise ExpressionError(f"{self.key}: the condition is empty. {_ALLOWED}")
        tree = self.condition(0)
        if self.i != len(self.tokens):
            raise self.error("expected 'and', 'or' or the end")
        return tree

    def condition(self, depth):
        tree = self.term(depth)
        while self.peek() == "or":
            self.take()
            tree = ("or", tree, self.term(depth))
        return tree

    def term(self, depth):
        tree = self.factor(depth)
        while self.peek() == "and":
            self.take()
            tree = ("and", tree, self.factor(depth))
        return tree

    def factor(self, depth):
        if depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH}")
        token = self.peek()
        if token == "not":
            self.take()
            return ("not", self.factor(depth + 1))
        if token == "(":
            self.take()
            tree = self.condition(depth + 1)
            self.take(")")
            return tree
        if token in ("isna", "notna"):
            self.take()
            self.take("(")
            column = self.column()
            self.take(")")
            return (token, column)
        left = self.value()
        if self.peek() in COMPARISONS:
            op = self.take()[1]
            return ("compare", op, left, self.value())
        if left[0] != "column":
            raise self.error("a number alone is not a condition; compare it")
        return ("truth", left)

    def column(self):
        kind, token, _ = self.take()
        if kind != "name" or token in KEYWORDS:
            self.i -= 1
            raise self.error("expected a column name")
        if self.is_column is not None and not self.is_column(token):
            self.i -= 1
            raise self.error(f"{token!r} is not a statistic of runs.csv")
        return ("column", token)

    def value(self):
        token = self.peek()
        if token == "-":
            self.take()
            kind, number, _ = self.take()
            if kind != "number" and number != "inf":
                self.i -= 1
                raise self.error("expected a number after '-'")
            return ("number", -float(number))
        if token in ("true", "false", "inf"):
            self.take()
            return ("number", {"true": 1.0, "false": 0.0, "inf": np.inf}[token])
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "number":
            return ("number", float(self.take()[1]))
        return self.column()


def parse(text: str, key: str = "condition", is_column: Callable[[str], bool] | None = None) -> tuple:
    """The tree of condition `text`; ExpressionError names `key` (a config key), the offending token and
    where it is. `is_column(name)`, when given, refuses names that are not runs.csv statistics."""
    if not isinstance(text, str):
        raise ExpressionError(f"{key}: a condition is a string, got {type(text).__name__}. {_ALLOWED}")
    return _Parser(text, key, is_column).parse()


def columns(tree: tuple) -> set[str]:
    """The column names a tree reads."""
    if tree[0] == "column":
        return {tree[1]}
    return set().union(*(columns(part) for part in tree[1:] if isinstance(part, tuple)))


def _value(tree: tuple, frame: pd.DataFrame) -> np.ndarray:
    if tree[0] == "number":
        return np.full(len(frame), tree[1])
    return pd.to_numeric(frame[tree[1]], errors="coerce").to_numpy(dtype=float)


def _evaluate(tree: tuple, frame: pd.DataFrame) -> np.ndarray:
    op = tree[0]
    if op == "or":
        return _evaluate(tree[1], frame) | _evaluate(tree[2], frame)
    if op == "and":
        return _evaluate(tree[1], frame) & _evaluate(tree[2], frame)
    if op == "not":
        return ~_evaluate(tree[1], frame)
    if op in ("isna", "notna"):
        missing = frame[tree[1][1]].isna().to_numpy()
        return missing if op == "isna" else ~missing
    if op == "compare":
        with np.errstate(invalid="ignore"):
            return COMPARISONS[tree[1]](_value(tree[2], frame), _value(tree[3], frame))
    column = frame[tree[1][1]]  # "truth": a boolean column, as runs.csv writes it (True/False, missing = false)
    values = column.map({True: True, False: False, "True": True, "False": False, 1: True, 0: False})
    if values.isna().ne(column.isna()).any():
        raise ExpressionError(f"column {tree[1][1]!r} is not boolean (values such as "
                              f"{column[values.isna() & column.notna()].iloc[0]!r}); compare it, e.g. "
                              f"{tree[1][1]} > 0.")
    return values.fillna(False).to_numpy(dtype=bool)


def evaluate(text: str, frame: pd.DataFrame, key: str = "condition") -> pd.Series:
    """The condition `text` on each row of `frame` (a boolean Series on its index)."""
    tree = parse(text, key, is_column=frame.columns.__contains__)
    return pd.Series(_evaluate(tree, frame), index=frame.index, dtype=bool)
