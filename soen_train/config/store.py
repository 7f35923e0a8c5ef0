"""Registers the schema in Hydra's ConfigStore so `train.yaml` composes onto typed sections."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from soen_train.config.schema import SOENTrainConfig

SCHEMA_NAME = "soen_train_schema"


def register_configs() -> None:
    """Store the root schema node once; `train.yaml` lists it first in its defaults."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=SOENTrainConfig)
