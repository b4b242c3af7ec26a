"""The configuration profile, `config/<ENVIRONMENT>.yaml`: the lowest-priority settings source.

A profile is a flat YAML mapping of the same names a user sets in the environment
(`LOG_LEVEL: INFO`, `MIMIR_LOG_FORMAT: pretty`), case-insensitive. Anything set in the
environment or `.env` overrides it. A profile never holds a secret: a secret-named key is
refused, so is a name Mímir does not know (a typo would otherwise be silently ignored).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from mimir.paths import CONFIG_DIR

DEFAULT_ENVIRONMENT = "development"
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|DATABASE_URL", re.IGNORECASE)


class ProfileError(Exception):
    """A profile file cannot be used; the message names the file and the key."""


def profile_path(environment: str, config_dir: Path = CONFIG_DIR) -> Path:
    return config_dir / f"{environment}.yaml"


def _env_names(field_name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [field_name.upper()]


def read_profile(path: Path, known: dict[str, str]) -> dict[str, Any]:
    """The profile's values keyed by environment-variable name (`known` maps each lower-cased
    name to its spelling); an absent file is an empty profile."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path.name}: not valid YAML ({type(exc).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileError(f"{path.name}: must be a mapping of setting names to values")
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = known.get(str(key).lower())
        if name is None:
            raise ProfileError(f"{path.name}: unknown setting {key}")
        if _SECRET_NAME.search(name):
            raise ProfileError(f"{path.name}: {name} is a secret; set it in the environment")
        values[name] = value
    return values


class ProfileSource(PydanticBaseSettingsSource):
    """Reads the profile of the ENVIRONMENT the higher-priority sources chose."""

    def __init__(self, settings_cls: type[BaseSettings], config_dir: Path = CONFIG_DIR) -> None:
        super().__init__(settings_cls)
        self.config_dir = config_dir
        self.known = {name.lower(): name
                      for field_name, field in settings_cls.model_fields.items()
                      for name in _env_names(field_name, field)}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def _environment(self) -> str:
        for key, value in self.current_state.items():
            if key.lower() == "environment" and value:
                return str(value).strip().lower()
        return DEFAULT_ENVIRONMENT

    def __call__(self) -> dict[str, Any]:
        environment = self._environment()
        if not re.fullmatch(r"[a-z]+", environment):
            return {}  # the field's own validation reports the bad ENVIRONMENT
        values = read_profile(profile_path(environment, self.config_dir), self.known)
        # Keyed as the environment source keys them, so higher sources replace, not join, them.
        return {name: value for name, value in values.items()
                if not any(key.lower() == name.lower() for key in self.current_state)}
