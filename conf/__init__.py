"""Hydra config files of soen-train (shipped inside the package)."""
