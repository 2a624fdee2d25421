import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # snakemake, jupytext, papermill of the environment running pytest


@pytest.fixture
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture
def schema() -> dict:
    from lplr.config import load_schema

    return load_schema(ROOT / "workflow/schemas/config.schema.yaml")
