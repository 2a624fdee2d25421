"""Notebooks (lplr.notebooks): which runs get a run explorer, the index page, the summary view, and papermill
execution for real: parameters injected, HTML stamped, a failing cell named in the error."""

import json

import pandas as pd
import pytest

from conftest import ROOT
from lplr.config import ConfigError, experiment_runs, validate_config
from lplr.notebooks import (NotebookError, execute_notebook, experiment_figures, index_page, selected_experiments,
                            selected_runs, summary_view)

PROVENANCE = {"results_commit": "abc123", "drawn_commit": "abc123", "config_hash": "0123456789"}


def test_first_seed_is_one_run_per_condition(default_config, schema):
    from lplr.config import conditions, experiment_runs, run_id

    config = validate_config(default_config, schema)
    names = list(config["experiments"])
    config["notebooks"]["runs"] = "first_seed"
    chosen = selected_runs(config, names)
    for name in names:
        first = config["experiments"][name]["seeds"][0]
        assert chosen[name] == [run_id(point, first) for point in conditions(config, name)]
        assert set(chosen[name]) <= set(experiment_runs(config, name))
    assert chosen["width"] == [f"width={w}+seed=0" for w in config["experiments"]["width"]["vary"]["width"]]
    config["experiments"]["width"]["seeds"] = [2, 0]  # the first seed listed, not the smallest
    assert selected_runs(config, ["width"])["width"][0] == "width=32+seed=2"


def test_auto_takes_each_experiments_first_and_last_condition_in_turn_within_the_budget(default_config, schema):
    config = validate_config(default_config, schema)
    assert config["notebooks"]["runs"] == "auto"
    names = ["width", "init", "cnn"]
    chosen = selected_runs(config, names)  # the default budget, 8, holds them all
    assert chosen == {"width": ["width=32+seed=0", "width=256+seed=0"],
                      "init": ["init=he+lr=0.01+lr_mode=fixed+seed=0", "init=depth_aware+lr=0.15+lr_mode=calibrated+seed=0"],
                      "cnn": ["batch_size=64+seed=0"]}  # one condition: one explorer
    config["notebooks"]["max_runs"] = 4  # every experiment's first condition, then the last ones in order
    assert selected_runs(config, names) == {"width": ["width=32+seed=0", "width=256+seed=0"],
                                            "init": ["init=he+lr=0.01+lr_mode=fixed+seed=0"], "cnn": ["batch_size=64+seed=0"]}
    # a config of one's own: other widths, seeds and batch sizes need no list, and every chosen run exists
    config["experiments"]["width"].update(vary={"width": [24, 48]}, seeds=[3, 1])
    config["experiments"]["batch"]["vary"] = {"batch_size": ["full", 32]}
    config["notebooks"]["max_runs"] = 100
    chosen = selected_runs(config, list(config["experiments"]))
    assert chosen["width"] == ["width=24+seed=3", "width=48+seed=3"]
    for name, runs in chosen.items():
        assert runs and set(runs) <= set(experiment_runs(config, name)), name


def test_all_none_and_a_list_of_runs(default_config, schema):
    from lplr.config import experiment_runs

    config = validate_config(default_config, schema)
    config["notebooks"]["runs"] = "all"
    assert selected_runs(config, ["width"])["width"] == list(experiment_runs(config, "width"))
    config["notebooks"]["runs"] = "none"
    assert selected_runs(config, ["width", "cnn"]) == {"width": [], "cnn": []}
    config["notebooks"]["runs"] = ["cnn/batch_size=64+seed=2", "width/width=32+seed=1"]
    assert selected_runs(config, ["width", "cnn"]) == {"width": ["width=32+seed=1"], "cnn": ["batch_size=64+seed=2"]}
    config["experiments"]["cnn"]["enabled"] = False  # its listed run is skipped, not an error
    assert selected_runs(config, ["width"]) == {"width": ["width=32+seed=1"]}


@pytest.mark.parametrize("entry, message", [
    ("width/width=33+seed=0", r"'notebooks.runs\[1\]': experiment 'width' has no run 'width=33\+seed=0'; its runs: "
                              r"width=32\+seed=0"),
    ("nope/width=32+seed=0", r"'notebooks.runs\[1\]': .* names experiment 'nope', which is not an enabled experiment"),
])
def test_a_listed_run_the_config_lacks_is_refused_naming_the_key(default_config, schema, entry, message):
    config = validate_config(default_config, schema)
    config["notebooks"]["runs"] = ["width/width=32+seed=0", entry]
    with pytest.raises(ConfigError, match=message):
        selected_runs(config, ["width", "cnn"])


def test_experiment_notebooks_all_none_or_a_list(default_config, schema):
    config = validate_config(default_config, schema)
    assert config["notebooks"]["experiments"] == "all"
    assert selected_experiments(config, ["width", "cnn"]) == ["width", "cnn"]
    config["notebooks"]["experiments"] = "none"
    assert selected_experiments(config, ["width", "cnn"]) == []
    config["notebooks"]["experiments"] = ["cnn", "step"]  # listed order does not matter; step is switched off here
    assert selected_experiments(config, ["width", "cnn"]) == ["cnn"]
    config["notebooks"]["experiments"] = ["width", "widht"]
    with pytest.raises(ConfigError, match=r"'notebooks.experiments\[1\]': 'widht' is not an experiment"):
        selected_experiments(config, ["width"])


def test_the_schema_refuses_an_unknown_selection(default_config, schema):
    default_config["notebooks"] = {"runs": "some"}
    with pytest.raises(ConfigError, match="config key 'notebooks.runs'"):
        validate_config(default_config, schema)


def test_index_links_every_notebook_relative_to_itself_with_commit_and_config(tmp_path):
    out = "results/notebooks/index.html"
    page = index_page(out, {"width": ("results/notebooks/experiments/width.html", "E1 & co"),
                            "cnn": ("results/notebooks/experiments/cnn.html", "")},
                      {"width": ["results/notebooks/runs/width/width=32+seed=0.html"], "cnn": []}, PROVENANCE)
    assert '<a href="experiments/width.html">width</a>: E1 &amp; co' in page
    assert '<a href="experiments/cnn.html">cnn</a>' in page
    assert '<a href="runs/width/width=32+seed=0.html">width=32+seed=0</a>' in page
    assert "<code>abc123</code>" in page and "<code>0123456789</code>" in page
    assert "LPLR results abc123, config 0123456789" in page  # the footer every stamped page has
    empty = index_page(out, {"cnn": ("results/notebooks/experiments/cnn.html", "")}, {"cnn": []}, PROVENANCE)
    assert "No run explorer in this build" in empty


def test_summary_view_one_row_per_condition(tmp_path):
    summary = pd.DataFrame({
        "width": [8, 8, 16], "statistic": ["rate", "final_loss", "rate"], "estimate": [0.0123, 1e-5, 0.02],
        "ci_low": [0.01, 5e-6, float("nan")], "ci_high": [0.015, 2e-5, float("nan")], "n": [3, 3, 1],
        "coverage": 0.95, "scale": "log", "estimator": "geometric mean", "n_runs": [3, 3, 2]})
    view = summary_view(summary, ["final_loss", "rate", "not_there"])
    assert list(view.columns) == ["final_loss", "rate"] and list(view.index) == [8, 16]
    assert view.loc[8, "rate"] == "0.0123 [0.01, 0.015] (3/3)"
    assert view.loc[16, "rate"] == "0.02 [n/a, n/a] (1/2)"
    single = summary_view(summary.drop(columns="width").head(1), ["rate"])
    assert single.loc["all", "rate"] == "0.0123 [0.01, 0.015] (3/3)"


def test_experiment_figures_come_from_the_registry():
    assert experiment_figures("batch") == ["batch_size"]
    assert experiment_figures("width")[0] == "loss_decay"
    assert experiment_figures("a_new_arm") == []  # an experiment no figure shows: the notebook says so


NOTEBOOK = '''# %% [markdown]
# # A test notebook

# %% tags=["parameters"]
value = 1

# %%
print(f"value is {value}")
'''


def test_a_notebook_runs_with_its_parameters_and_a_failing_cell_names_notebook_and_cell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LPLR_PROVENANCE", json.dumps(PROVENANCE))
    (tmp_path / "good.py").write_text(NOTEBOOK)
    execute_notebook("good.py", "out/good.ipynb", "out/good.html", {"value": 42})
    assert "value is 42" in (tmp_path / "out/good.html").read_text()
    assert "LPLR results abc123, config 0123456789" in (tmp_path / "out/good.html").read_text()
    executed = json.loads((tmp_path / "out/good.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"] == {"value": 42}

    (tmp_path / "bad.py").write_text(NOTEBOOK + '\n# %%\nresult = 1 / (value - 42)  # deliberately broken\n')
    with pytest.raises(NotebookError) as raised:
        execute_notebook("bad.py", "out/bad.ipynb", "out/bad.html", {"value": 42})
    message = str(raised.value)
    assert message.startswith("notebook bad.py: code cell 3 of the source, In [4] in the executed notebook failed: "
                              "ZeroDivisionError: division by zero")
    assert "result = 1 / (value - 42)  # deliberately broken" in message
    assert "ZeroDivisionError: division by zero" in message
    assert not (tmp_path / "out/bad.html").exists() and not (tmp_path / "out/bad.ipynb").exists()
    assert (tmp_path / "out/bad.failed.ipynb").is_file()  # to open in Jupyter
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no scratch folder left


@pytest.fixture(scope="module")
def synthetic_results(tmp_path_factory):
    """The analysis tables of test_plots' synthetic E1, as results/ of a working directory."""
    from test_plots import EXPERIMENTS, FIT, VARY

    from lplr.analysis import analyse_experiment
    from lplr.io import write_csv
    from lplr.plots import TABLES

    root = tmp_path_factory.mktemp("workdir")
    runs = EXPERIMENTS["width"]()
    for table, frame in analyse_experiment(runs, VARY["width"], FIT).items():
        write_csv(frame, root / TABLES[table].format(experiment="width"))
    return root, runs


def test_an_experiment_without_figures_or_reading_text_renders_and_shows_its_claims(synthetic_results, monkeypatch):
    """The real experiment notebook for an experiment no figure shows and no reading text describes (e.g. a new
    arm added to config.yaml), with a claims ledger that has rows for it."""
    from lplr.plots import TABLES

    root, _ = synthetic_results
    monkeypatch.chdir(root)
    pd.DataFrame({"claim": ["C1 linear decay", "C2 other"], "experiment": ["a_new_arm", "cnn"],
                  "verdict": ["supported", "refuted"]}).to_csv(root / "claims.csv", index=False)
    tables = {table: path.format(experiment="width") for table, path in TABLES.items()}
    source = ROOT / "workflow/notebooks/experiment.py"
    execute_notebook(source, "out/e.ipynb", "out/e.html", {"experiment": "a_new_arm", "description": "a new arm",
                     "tables": tables, "reading_md": "", "claims_csv": "claims.csv",
                     "figure_options": {"confidence": 0.95, "exit_fraction": 0.5}})
    page = (root / "out/e.html").read_text()
    assert "No figure of the registry (lplr.plots.registry.FIGURES) shows experiment 'a_new_arm'." in page
    assert "No reading text for experiment 'a_new_arm' in this repository" in page
    assert "C1 linear decay" in page and "C2 other" not in page  # its own claims only
    assert "<img" not in page
    assert "width=128+seed=2" in page  # the per-run table


def test_the_run_explorer_refuses_a_run_its_tables_lack(synthetic_results, monkeypatch):
    root, _ = synthetic_results
    monkeypatch.chdir(root)
    with pytest.raises(NotebookError) as raised:
        execute_notebook(ROOT / "workflow/notebooks/run.py", "out/r.ipynb", "out/r.html",
                         {"experiment": "width", "run": "width=99+seed=0", "manifest_json": "none.json",
                          "eigenvalues_npz": "none.npz"})
    message = str(raised.value)
    assert "workflow/notebooks/run.py: code cell 2 of the source" in message
    assert "KeyError" in message and "results/fits/width/runs.csv has no run 'width=99+seed=0'" in message
