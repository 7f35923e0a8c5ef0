"""Memory of truncated BPTT vs full BPTT on long sequences (T = 1000 by default).

Each mode runs in its own process (peak RSS is per process) and trains a few batches of the
64 -> 256 -> 10 RateArray SOEN through SOENLightningModule. Prints peak memory and time per batch.

    python bench/tbptt.py [--steps 1000] [--chunk 100] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def arch(d_in: int = 64, hidden: int = 256, out: int = 10) -> dict:
    """The 64 -> 256 -> 10 SingleDendrite (RateArray) network of bench/simulate.py."""
    sd = {"solver": "FE", "source_func": "RateArray"}
    return {
        "simulation": {"dt": 37.0},
        "layers": [
            {"layer_id": 0, "layer_type": "Input", "params": {"dim": d_in}},
            {"layer_id": 1, "layer_type": "SingleDendrite", "params": {"dim": hidden, **sd}},
            {"layer_id": 2, "layer_type": "SingleDendrite", "params": {"dim": out, **sd}},
        ],
        "connections": [
            {
                "from_layer": 0,
                "to_layer": 1,
                "connection_type": "all_to_all",
                "params": {"init": "uniform", "min": -0.1, "max": 0.1},
            },
            {
                "from_layer": 1,
                "to_layer": 2,
                "connection_type": "all_to_all",
                "params": {"init": "uniform", "min": -0.1, "max": 0.1},
            },
        ],
    }


def child(mode: str, steps: int, chunk: int, batch: int, batches: int) -> None:
    """Train `batches` batches in this process and print peak RSS (MiB) and s/batch as JSON."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from soen_train.model import SOENModel
    from soen_train.training.module import SOENLightningModule

    torch.set_num_threads(2)
    x = torch.rand(batch * batches, steps, 64)
    y = torch.randint(0, 10, (batch * batches,))
    model = SOENModel.from_yaml(arch(), seed=0)
    module = SOENLightningModule(
        model,
        [{"name": "cross_entropy"}],
        pooling_name="mean",
        metrics=[],
        optimizer={"name": "adamw", "lr": 1e-3},
        tbptt_steps=chunk if mode == "tbptt" else None,
    )
    trainer = pl.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=batch))
    per_batch = (time.perf_counter() - t0) / batches
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": mode, "peak_mib": peak_mib, "train_mib": peak_mib - before_mib,
                      "s_per_batch": per_batch}))


def main() -> None:
    """Run both modes in subprocesses and print a comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--child", choices=["full", "tbptt"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.chunk, args.batch, args.batches)
        return
    rows = []
    for mode in ("full", "tbptt"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--steps",
            str(args.steps),
            "--chunk",
            str(args.chunk),
            "--batch",
            str(args.batch),
            "--batches",
            str(args.batches),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"T={args.steps}, batch {args.batch}, 64 -> 256 -> 10 RateArray SOEN, chunk {args.chunk}")
    for r in rows:
        print(f"{r['mode']:>6}: peak RSS {r['peak_mib']:7.1f} MiB, of which training "
              f"{r['train_mib']:6.1f} MiB   {r['s_per_batch']:.3f} s/batch")
    print(f"training memory ratio tbptt/full: {rows[1]['train_mib'] / rows[0]['train_mib']:.3f}")


if __name__ == "__main__":
    main()
