"""Training: the Lightning module, the loss/pooling/schedule catalogs, callbacks and the runner.

Plain Lightning, no Hydra. Import the parts you need (e.g. `soen_train.training.module`);
this package import stays light so the catalogs load without Lightning.
"""
