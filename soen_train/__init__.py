"""soen_train: train and sweep Superconducting Optoelectronic Network (SOEN) models."""

__version__ = "0.1.0"
