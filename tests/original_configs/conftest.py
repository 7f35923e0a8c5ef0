"""Fixtures for running training YAMLs of the original SOEN toolkit: a tiny HDF5 file, an
architecture YAML, a training config that uses every key of the guide's YAML blocks, and a
runner for the real `soen-train` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import yaml

SOEN_TRAIN = str(Path(sys.executable).with_name("soen-train"))
SOEN_TRAIN_JAX = str(Path(sys.executable).with_name("soen-train-jax"))

ARCHITECTURE = """\
simulation: {dt: 200.0, input_type: state, network_evaluation_method: layerwise}
layers:
  - {layer_id: 0, layer_type: Input, params: {dim: 1}}
  - layer_id: 1
    layer_type: SingleDendrite
    params:
      dim: 4
      solver: FE
      source_func: Heaviside_fit_state_dep
      phi_offset: {distribution: constant, params: {value: 0.02}}
      bias_current: {distribution: uniform, params: {min: 1.9, max: 2.0}}
      gamma_plus: {distribution: constant, params: {value: 0.0005}}
      gamma_minus: {distribution: constant, params: {value: 1.0e-6}}
  - {layer_id: 2, layer_type: Input, params: {dim: 2}}
connections:
  - {from_layer: 0, to_layer: 1, connection_type: all_to_all, learnable: true,
     params: {init: uniform, min: 0.0, max: 0.24, constraints: {min: -0.24, max: 0.24}}}
  - {from_layer: 1, to_layer: 1, connection_type: all_to_all, learnable: true,
     params: {init: uniform, min: -0.1, max: 0.1, allow_self_connections: false}}
  - {from_layer: 1, to_layer: 2, connection_type: all_to_all, learnable: true,
     params: {init: xavier_uniform}}
"""

# Every key of the guide's YAML blocks (Training_Models.md), with tiny values. Paths are
# relative to the folder the command runs in, as in the original.
GUIDE_CONFIG = """\
seed: 3
training:
  paradigm: supervised
  mapping: seq2static
  max_epochs: 2
  batch_size: 16
  num_repeats: 1
  accelerator: "cpu"
  devices: 1
  precision: "32-true"
  backend: torch
  early_stopping_patience: 1
  optimizer:
    name: "adamw"
    lr: 0.002
    kwargs:
      weight_decay: 0.0003
  loss:
    losses:
      - name: cross_entropy
        weight: 1.0
      - name: reg_J_loss
        weight: 0.01
        params:
          threshold: 0.2
  train_from_checkpoint: null
  use_tbptt: true
  tbptt_steps: 12
  tbptt_stride: 12
data:
  data_path: "data.h5"
  cache_data: true
  target_seq_len: 24
  min_scale: 0.0
  max_scale: 1.0
  input_encoding: "raw"
model:
  base_model_path: null
  load_exact_model_state: false
  architecture_yaml: "arch.yaml"
  time_pooling:
    name: "max"
    params:
      scale: 2.0
  dt: 37
  dt_learnable: false
logging:
  project_name: "MyProject"
  experiment_name: "Run1"
  group_name: "InitialTests"
  log_level: "INFO"
  log_freq: 1
  metrics: ["accuracy"]
  track_connections: true
  track_layer_params: true
  mlflow_active: false
  mlflow_password: "xxx"
  mlflow_tracking_uri: "file:./mlruns"
profiler:
  active: true
  type: "simple"
  num_train_batches: 10
  num_val_batches: 5
  record_shapes: true
  profile_memory: true
  with_stack: true
  output_filename: "profile_results"
callbacks:
  lr_scheduler:
    type: "cosine"
    max_lr: 0.001
    min_lr: 0.000001
    warmup_epochs: 1
    cycle_epochs: 50
  noise_annealers:
    - key: "bias_current"
      target: "perturb"
      start_value: 0.1
      end_value: 0.0
      start_epoch: 0
      end_epoch: 1
  loss_weight_schedulers:
    - loss_name: "reg_J_loss"
      scheduler_type: "linear"
      params:
        min_weight: 0.01
        max_weight: 0.1
  qat:
    active: true
    bits: 4
    min_val: -0.24
    max_val: 0.24
  stateful_training:
    enable_for_training: true
    enable_for_validation: false
    sample_selection: "random"
    verbose: false
"""


class Project:
    """A folder with the data, the architecture and a training config; runs soen-train there."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write_config(self, text: str, name: str = "training_config.yaml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def edited(self, edit, name: str) -> Path:
        """The guide config with ``edit(doc)`` applied, written as ``name``."""
        doc = yaml.safe_load(GUIDE_CONFIG)
        edit(doc)
        return self.write_config(yaml.safe_dump(doc, sort_keys=False), name)

    def run(self, *args: str, tool: str = SOEN_TRAIN, expect_rc: int = 0, timeout: int = 600):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        cmd: List[str] = [tool, *args]
        out = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout)
        if out.returncode != expect_rc:
            raise AssertionError(
                f"{' '.join(cmd)} exited {out.returncode}, expected {expect_rc}:\n"
                f"{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
            )
        return out

    @property
    def group_dir(self) -> Path:
        return self.root / "experiments/project_MyProject/experiment_Run1/group_InitialTests"


def make_data(path: Path) -> None:
    """64/32/32 one-or-two-pulse sequences of 32 steps (the library's seeded maker)."""
    from soen_train.data import build_dataset

    build_dataset("pulses", path, n_train=64, n_val=32, n_test=32, seq_len=32, seed=0)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    make_data(tmp_path / "data.h5")
    (tmp_path / "arch.yaml").write_text(ARCHITECTURE)
    proj = Project(tmp_path)
    proj.write_config(GUIDE_CONFIG)
    return proj
