"""The pre-flight (python -m lplr preflight): the linearised decades on a planted spectrum, the initial
sharpness against the NTK of the same model, the offline stand-in, and config errors naming the key."""

import math

import numpy as np
import pytest
import torch
import yaml

from lplr import ntk
from lplr.config import ConfigError
from lplr.models import build_model
from lplr.preflight import linearised_decades, load_config, main, preflight, preflight_data


def test_linearised_decades_on_a_planted_spectrum():
    n, steps = 10, 7
    # eta lambda / n = 1 kills the first direction in one step; the second contracts by 0.5^2 per step
    eigenvalues, projections = np.array([1.0, 0.5]) * n, np.array([1.0, 1.0])
    expected = -math.log10((0 + 0.25 ** steps) / 2)
    assert linearised_decades(eigenvalues, projections, 1.0, n, steps) == pytest.approx(expected)
    assert linearised_decades(eigenvalues, projections, 0.0, n, steps) == pytest.approx(0.0)


def small_config(tmp_path, extra=None):
    config = {"data": {"n_train": 40, "n_test": 10, "root": str(tmp_path / "data")},
              "training": {"steps": 50},
              "experiments": {
                  "width": {"vary": {"width": [8, 16]}, "seeds": [3]},
                  "width_calibrated": {"enabled": False}, "width_eos": {"enabled": False}, "init": {"enabled": False},
                  "step": {"enabled": False}, "batch": {"enabled": False, "vary": {"batch_size": [8]}},
                  "cnn": {"data": {"dataset": "cifar10", "classes": ["airplane", "automobile"]}, "seeds": [0],
                          "vary": {"batch_size": [8]}}}}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({**config, **(extra or {})}))
    return path


def test_preflight_sharpness_matches_the_ntk_and_cifar_offline_says_so(tmp_path, capsys):
    config = load_config([small_config(tmp_path)])
    table = preflight(config, max_points=1000).set_index("condition")
    row = table.loc["width=16"]
    data, source = preflight_data({**config["data"]}, 1000, tmp_path / "scratch")
    torch.manual_seed(3)
    model = build_model({**config["training"], "width": 16}, tuple(data["x_train"].shape[1:])).double()
    expected = config["training"]["lr"] * ntk.lambda_max(model, data["x_train"]) / 40
    assert row["sharpness_0"] == pytest.approx(expected, rel=1e-10) and row["n_points"] == 40
    assert 0 < row["predicted_decades"] < 10 and row["data"] == "mnist5k, 40 of 40 points"
    cnn = table[table["experiment"] == "cnn"].iloc[0]
    assert "cifar10 is not in" in cnn["note"] and "download it first" in cnn["note"]
    assert main(["--configfile", str(small_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    # fits a 100-column terminal: the long fields (condition, data, notes) are keys explained in the legend
    assert "decades" in out and max(map(len, out.splitlines())) <= 100, out
    assert "width 2: width=16" in out and "cifar10 is not in" in out and "n';" not in out


def test_mnist_offline_falls_back_to_the_embedded_images_and_states_the_cap(tmp_path):
    settings = {"dataset": "mnist", "classes": [0, 1], "n_train": 2000, "n_test": 1960, "normalization": "pixels",
                "seed": 0, "root": str(tmp_path / "nothing-here")}
    data, source = preflight_data(settings, 60, tmp_path / "scratch")
    assert len(data["x_train"]) == 60 and source.startswith("offline: mnist5k stand-in, 60 of 2000 points")


def test_a_bad_config_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"experiments": {"width": {"vary": {"width": [0]}}}}))
    with pytest.raises(ConfigError, match=r"experiments\.width\.vary\.width\[0\]"):
        load_config([path])
