"""Loading the settings YAML file, with errors that name the file and the offending key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError

from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.registry import POLICY_IDS


class SettingsError(Exception):
    """The settings file is missing, not YAML, or not valid settings."""


BOOLEAN_WORDS = "YAML reads an unquoted off, on, yes or no as false or true: quote it"
"""Said when a value that should be a word came as a boolean: `single-replica: off` is `false` to YAML 1.1."""
NUMBER_WORDS = "YAML reads an unquoted number as a number, not text: quote it"
"""Said when a value that should be text came as a number: `tlsMinVersion: 1.3` is a float."""


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        message = f"{location}: {item['msg']}" if location else item["msg"]
        value = item.get("input")
        if item["type"] in {"enum", "literal_error", "string_type"} and isinstance(value, bool | int | float):
            message += f" ({BOOLEAN_WORDS if isinstance(value, bool) else NUMBER_WORDS})"
        parts.append(message)
    return "; ".join(parts)


def parse_settings(data: object, source: str = "settings") -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(f"{source}: {_describe(error)}") from None
    unknown = sorted(set(settings.policies) - POLICY_IDS)
    if unknown:
        raise SettingsError(
            f"{source}: unknown policy id(s) {', '.join(unknown)}; known: {', '.join(sorted(POLICY_IDS))}"
        )
    return settings


def load_settings(path: Path | None) -> Settings:
    """The settings in `path`, or the defaults when `path` is None."""
    if path is None:
        return Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"{path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {error}") from None
    return parse_settings(data, str(path))


def settings_json_schema() -> dict[str, Any]:
    """The settings file as JSON Schema (draft 2020-12), for editors and the Helm chart's values.schema.json:
    the model's own schema, with the policy ids as the only keys `policies` accepts and pydantic's generated
    titles left out. Checks the model does in code (version formats) are not in it."""
    schema = Settings.model_json_schema(by_alias=True, mode="validation")

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(value) for key, value in node.items() if key != "title"}
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    schema = strip(schema)
    schema["properties"]["policies"]["propertyNames"] = {"enum": sorted(POLICY_IDS)}
    return cast(dict[str, Any], schema)
