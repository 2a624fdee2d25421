"""A config checked whole before any job: the schema and the checks it cannot express (lplr.config), then the
claims block (lplr.claim_config), whose conditions are parsed, never run as code. Kept apart from lplr.config
because the claims' checks read the config's runs (no import circle)."""

from __future__ import annotations

from lplr.claim_config import ClaimError, validate_claims
from lplr.config import validate_config


def validate(config: dict, schema: dict, source="config.yaml") -> dict:
    """validate_config, then validate_claims; errors name the key and the file it came from (`source`: a file
    name, or a function of the key's path that names it)."""
    validate_config(config, schema, source)
    try:
        validate_claims(config)
    except ClaimError as error:
        where = source(["claims"]) if callable(source) else source
        raise ClaimError(f"{str(error).rstrip('.')}. Fix it in {where}.") from None
    return config
