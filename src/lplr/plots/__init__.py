"""The paper's figures, drawn from the analysis tables only; one style (style), one module per experiment
(width: E1/E6, init: E2, step: E3, sgd: E4/E5, noise: SGD against GD per step), and the registry every rule and test reads."""

from lplr.plots.registry import FIGURES, TABLES, draw_figure, figure_inputs

__all__ = ["FIGURES", "TABLES", "draw_figure", "figure_inputs"]
