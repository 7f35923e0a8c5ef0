"""Configuration: typed schema (no Hydra import), ConfigStore registration, validation."""

from soen_train.config.errors import ConfigError
from soen_train.config.schema import SOENTrainConfig

__all__ = ["ConfigError", "SOENTrainConfig"]
