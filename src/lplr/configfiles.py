"""The config files of a build, read by our code: a YAML error names the file, line and column, and a
schema error names the file its key came from (the last of the merged files that sets it).

Snakemake merges `configfile: "config.yaml"` with each `--configfile` in turn (later files win, a list is
replaced whole) and then `--config KEY=VALUE`. It parses the --configfile files itself in its command line,
before any workflow code runs, and says only "Config file is not valid JSON or YAML" for a syntax error
there (`snakemake --verbose` shows YAML's line); config.yaml is read here first (workflow/rules/configfiles.smk).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import yaml

from lplr.config import ConfigError


def read_config_file(path: str | Path) -> dict:
    """A config file's mapping ({} when empty); a YAML error raises ConfigError naming the file and line."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(filter(None, [error.context, error.problem]))
        raise ConfigError(f"config file {path}{where}: not valid YAML ({problem}). Fix the YAML there (indent with "
                          "spaces, quote values that contain ': ').") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path}: not valid YAML ({error}). Fix the YAML there.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: its top level is a {type(data).__name__}, not a mapping of keys "
                          "(data:, training:, experiments:, ...).")
    return data


def read_config_files(paths: Sequence[str | Path]) -> dict[str, dict]:
    """{path: mapping} for each existing file, in merge order; a path inside the working directory relative
    to it (Snakemake makes --configfile paths absolute)."""
    def shown(path: Path) -> str:
        return str(path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path)

    return {shown(Path(path)): read_config_file(path) for path in paths if Path(path).exists()}


def sets_key(mapping: Mapping, path: Sequence) -> bool:
    """Whether `mapping` sets the key at `path` (a list index counts as its list: lists merge whole)."""
    for part in path:
        if isinstance(part, int):
            return True
        if not isinstance(mapping, Mapping) or part not in mapping:
            return False
        mapping = mapping[part]
    return True


def key_source(path: Sequence, files: Mapping[str, Mapping], overrides: Mapping | None = None,
               default: str = "config.yaml") -> str:
    """Where the key at `path` was set: 'the --config override', the last file that sets it, or `default`
    (a key no file sets, such as a missing required one, is added to the main config file)."""
    if overrides and sets_key(overrides, path):
        return "the --config override"
    for name, mapping in reversed(list(files.items())):
        if sets_key(mapping, path):
            return name
    return default
