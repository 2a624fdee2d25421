"""The config's facts in words (lplr.setup) and the paper's sentence about shared runs (lplr.paper)."""

import pandas as pd

from lplr.config import validate_config
from lplr.paper import shared_sentence
from lplr.setup import describe, experiment_facts


def test_the_setup_sentence_states_the_configs_model_data_steps_and_seeds(default_config, schema):
    default_config["data"].update(dataset="digits", classes=[3, 5], n_train=80, n_test=40)
    default_config["training"].update(depth=3, steps=150)
    default_config["experiments"]["width"].update(vary={"width": [6, 12]}, seeds=[4, 1])
    default_config["experiments"]["step"]["conditions"] = [{"lr": 0.01, "steps": 150}, {"lr": 0.002, "steps": 750}]
    config = validate_config(default_config, schema)
    width = describe(experiment_facts(config, "width"))
    assert width.startswith("A three-layer ReLU MLP (2 hidden layers of width m, a scalar readout), He initialisation")
    assert ("full-batch gradient descent at eta = 0.01 for 150 steps, on scikit-learn's 8x8 digits, class 3 vs 5 "
            "(labels -1 and +1), 80 training images at 8x8 pixels, pixel values in [0, 1]") in width
    assert width.endswith("Its 2 conditions: width 6; width 12. Seeds: 4, 1 (2 runs per condition).")
    step = describe(experiment_facts(config, "step"))
    assert "width 64" in step and "Its 2 conditions: eta = 0.01, 150 steps; eta = 0.002, 750 steps." in step
    cnn = describe(experiment_facts(config, "cnn"), latex=True)
    assert "3 residual blocks of 8 channels" in cnn and "mini-batch SGD (batch size 64)" in cnn
    assert r"pooled by 4 to $2\times2$ pixels, standardised" in cnn  # 8x8 digits pooled by the CNN's downsample 4
    assert r"$\eta\lambda_{\max}(\Theta_0)/n=1$" in cnn


def test_the_shared_sentence_does_not_depend_on_which_experiment_owns_a_run():
    width = pd.DataFrame({"run": ["width=8+seed=0", "width=16+seed=0"], "source": ["", ""]})
    step = pd.DataFrame({"run": ["lr=0.01+seed=0", "lr=0.001+seed=0"], "source": ["width/width=8+seed=0", ""]})
    owned_by_width = {"width": width, "step": step}
    assert shared_sentence("step", owned_by_width) == "1 of its 2 runs is shared with width (trained once)."
    assert shared_sentence("width", owned_by_width) == "1 of its 2 runs is shared with step (trained once)."
    owned_by_step = {"width": width.assign(source=["step/lr=0.01+seed=0", ""]), "step": step.assign(source=["", ""])}
    assert shared_sentence("step", owned_by_step) == shared_sentence("step", owned_by_width)
    assert shared_sentence("width", owned_by_step) == shared_sentence("width", owned_by_width)
    alone = {"cnn": pd.DataFrame({"run": ["batch_size=8+seed=0"], "source": [""]})}
    assert shared_sentence("cnn", alone) == "None of its runs (1) is shared with another experiment."
