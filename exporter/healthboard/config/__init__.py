"""Configuration: schema, loading, validation and error reporting."""

from healthboard.durations import format_duration, parse_duration
from healthboard.config.loader import load_config, parse_config
from healthboard.errors import ConfigError
from healthboard.config.model import Config, ModelConfig, Price, ProviderConfig

__all__ = [
    "Config",
    "ConfigError",
    "ModelConfig",
    "Price",
    "ProviderConfig",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
