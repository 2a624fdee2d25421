"""The package's error types, in a leaf module (no imports) so that every module can raise them."""


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and says what to do."""


class PlanError(ValueError):
    """A target names a run or job the config's plan does not have; the message lists what it has."""
