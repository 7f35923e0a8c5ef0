"""Training memory of the pulses net against T, batch size and the number of epochs.

Each setting trains in a fresh process (peak RSS is a per-process figure) through the real
runner pieces, as `soen-train experiment=pulses` assembles them. Per setting it prints:

- peak RSS growth: the process's peak resident memory during `trainer.fit` above its resident
  memory just before it (the kernel's peak counter is reset at that moment), MiB;
- retained after fit: what is still held once training returned (module, trainer and callbacks
  kept alive): Python allocations (tracemalloc, started before fit) and the bytes of live
  tensors reachable from Python, both above the level before fit.

Then the fitted slope of each figure per epoch (it should be ~0: memory grows with T and batch,
never with the epoch count) and per unit of T and of batch.

    python bench/memory.py [--n-train 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Dict, List

import numpy as np

# (T, batch, epochs): an epoch sweep at the default shape, then T and batch sweeps
SETTINGS = [
    (64, 32, 1), (64, 32, 2), (64, 32, 6), (64, 32, 10),
    (32, 32, 2), (128, 32, 2), (256, 32, 2),
    (64, 8, 2), (64, 128, 2), (64, 512, 2),
]


def _rss_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def live_tensor_bytes() -> int:
    """Bytes of the distinct storages of every tensor Python can reach."""
    import torch

    seen: Dict[int, int] = {}
    for obj in gc.get_objects():
        try:
            if torch.is_tensor(obj) and obj.device.type == "cpu":
                storage = obj.untyped_storage()
                seen[storage.data_ptr()] = storage.nbytes()
        except Exception:  # noqa: BLE001 - some objects refuse inspection; they hold no tensor
            continue
    return sum(seen.values())


def measure_one(seq_len: int, batch: int, epochs: int, n_train: int, threads: int) -> Dict[str, float]:
    """Train one setting in this process and return its memory figures."""
    import lightning.pytorch as pl
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from overhead import _config

    from soen_train.training.datamodule_factory import build_datamodule
    from soen_train.training.model_factory import build_model
    from soen_train.training.run_paths import RunPaths
    from soen_train.training.runner import build_module
    from soen_train.training.trainer_factory import (
        build_callbacks,
        build_loggers,
        build_trainer,
        flat_hparams,
    )

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(Path(tmp), n_train, epochs, [
            f"data.dataset_params.seq_len={seq_len}", f"training.batch_size={batch}",
            "data.dataset_params.n_val=64", "data.dataset_params.n_test=64",
        ])
        pl.seed_everything(cfg.seed, verbose=False)
        paths = RunPaths.create(cfg.logging.project_dir, "bench", "memory", "g", 0)
        dm = build_datamodule(cfg, cfg.seed)
        dm.setup("fit")
        model = build_model(None, False, None, cfg.model.architecture, seed=cfg.seed)
        module = build_module(cfg, model)
        callbacks, _, _ = build_callbacks(cfg, paths, module)
        loggers = build_loggers(cfg, paths, cfg.seed, None, flat_hparams(cfg))
        trainer = build_trainer(cfg, paths, callbacks, loggers)
        gc.collect()
        tensors_before = live_tensor_bytes()
        tracemalloc.start()
        python_before = tracemalloc.get_traced_memory()[0]
        rss_before = _rss_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        trainer.fit(module, datamodule=dm)
        peak = _rss_kib("VmHWM")
        gc.collect()
        python_after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        tensors_after = live_tensor_bytes()
    return {
        "T": seq_len, "batch": batch, "epochs": epochs,
        "peak_rss_growth_mib": (peak - rss_before) / 1024,
        "retained_python_kib": (python_after - python_before) / 1024,
        "retained_tensor_kib": (tensors_after - tensors_before) / 1024,
    }


def _slope(rows: List[Dict[str, float]], x: str, y: str) -> float:
    xs = np.array([r[x] for r in rows], dtype=float)
    return float(np.polyfit(xs, np.array([r[y] for r in rows], dtype=float), 1)[0])


def main() -> None:
    """Run every setting in its own process, print the table and the fitted slopes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=3, type=int, metavar=("T", "BATCH", "EPOCHS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_one(*args.child, args.n_train, args.threads)))
        return
    rows = []
    print(f"pulses net, {args.n_train} training sequences; peak RSS growth during fit, MiB; "
          "retained after fit, KiB")
    print(f"{'T':>5} {'batch':>6} {'epochs':>7} {'peak RSS':>10} {'python':>9} {'tensors':>9}")
    for seq_len, batch, epochs in SETTINGS:
        done = subprocess.run(
            [sys.executable, __file__, "--n-train", str(args.n_train), "--threads",
             str(args.threads), "--child", str(seq_len), str(batch), str(epochs)],
            capture_output=True, text=True, check=True,
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{seq_len:>5} {batch:>6} {epochs:>7} {row['peak_rss_growth_mib']:>10.1f} "
              f"{row['retained_python_kib']:>9.1f} {row['retained_tensor_kib']:>9.1f}", flush=True)
    by_epochs = [r for r in rows if (r["T"], r["batch"]) == (64, 32)]
    by_t = [r for r in rows if r["batch"] == 32 and r["epochs"] == 2]
    by_batch = [r for r in rows if r["T"] == 64 and r["epochs"] == 2]
    for y, unit in (("peak_rss_growth_mib", "MiB"), ("retained_python_kib", "KiB"),
                    ("retained_tensor_kib", "KiB")):
        print(f"{y}: {_slope(by_epochs, 'epochs', y):+.3f} {unit}/epoch (should be ~0), "
              f"{_slope(by_t, 'T', y):+.4f} {unit}/step of T, "
              f"{_slope(by_batch, 'batch', y):+.4f} {unit}/sample of batch")


if __name__ == "__main__":
    main()
