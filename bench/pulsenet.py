"""Wall time and peak memory of the PulseNet experiment: `soen-train +experiment=pulsenet`.

Trains the original tutorial's PulseNet shape (1 -> 5 -> 2 SingleDendrite, dt 779, max pooling)
for 10 epochs on the one-or-two-pulse task (7000/2000/1000 sequences, T 64, D 1) through the
real runner (data module, Lightning module, callbacks, TensorBoard logger, Trainer), then tests
it. The dataset is made before the clock starts. Prints wall time (training + validation +
test), seconds per epoch, peak resident memory of the process and the accuracies.

    python bench/pulsenet.py [--epochs 10] [--threads 1] [override ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from soen_train.config.conf_dir import CONF_DIR
from soen_train.config.loading import to_job_config
from soen_train.config.store import register_configs
from soen_train.data.makers.building import build_dataset
from soen_train.training.runner import run_job


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    """Make the data, run the experiment once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for this tiny net)")
    parser.add_argument("override", nargs="*", help="extra Hydra overrides, e.g. training.lr=0.005")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_configs()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="train", overrides=[
                "+experiment=pulsenet", f"training.max_epochs={args.epochs}",
                f"data.data_path={tmp / 'pulsenet.h5'}", f"logging.project_dir={tmp}",
                "logger=tensorboard", "logging.progress_bar=false", *args.override])
        job = to_job_config(cfg)
        t0 = time.perf_counter()
        build_dataset(job.data.dataset, tmp / "pulsenet.h5", **dict(job.data.dataset_params))
        made = time.perf_counter() - t0
        rss_before = peak_rss_mib()
        t0 = time.perf_counter()
        run_job(job, tmp / "job")
        wall = time.perf_counter() - t0
        result = json.loads((tmp / "job" / "soen_result.json").read_text())
    metrics = result["repeats"][0]["metrics"]
    epochs = int(metrics["epochs_trained"])
    print(f"PulseNet (1 -> 5 -> 2 SingleDendrite, dt 779, max pooling), {epochs} epochs, "
          f"7000/2000/1000 x 64 x 1, {args.threads} threads, overrides: {args.override or 'none'}")
    print(f"dataset made in      : {made:.1f} s (not counted below)")
    print(f"wall time            : {wall:.1f} s  ({wall / max(epochs, 1):.2f} s/epoch incl. validation; "
          "plus one test pass)")
    print(f"peak RSS             : {peak_rss_mib():.0f} MiB  (process peak; {rss_before:.0f} MiB before training)")
    print(f"best val accuracy    : {metrics['val_accuracy']:.4f}")
    print(f"test accuracy        : {metrics['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
