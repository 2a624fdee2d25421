# Our code reads the config files before Snakemake's `configfile:` does, so a YAML error names the file and
# line (lplr.configfiles); CONFIG_SOURCE names the file a schema error's key came from.
import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from lplr.config import ConfigError
from lplr.configfiles import key_source, read_config_files

try:
    CONFIG_FILES = read_config_files(["config.yaml", *map(str, workflow.overwrite_configfiles)])
except ConfigError as error:
    raise WorkflowError(str(error)) from None


def CONFIG_SOURCE(path):
    return key_source(path, CONFIG_FILES, workflow.config_settings.config)
