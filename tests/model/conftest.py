"""Test settings for the simulator tests (tiny tensors, one thread)."""

import torch

torch.set_num_threads(1)
