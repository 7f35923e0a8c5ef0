"""`soen-train-eval`: metrics of a trained `.ckpt` or `.soen` on a split, and predictions.

    soen-train-eval experiments/.../checkpoints/repeat_0/best.soen
    soen-train-eval last.ckpt --split val --data other.h5 --predict preds.npz

The run's settings are read from the `run_config.yaml` beside the model file (or --config).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

from soen_train.errors import SOENError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="soen-train-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a .ckpt written by soen-train, or a .soen model")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--data", default=None, help="another HDF5 file (default: the run's dataset)")
    p.add_argument("--config", type=Path, default=None,
                   help="the run's run_config.yaml (default: the one beside the model file)")
    p.add_argument("--output", type=Path, default=None, help="write the metrics to this JSON file")
    p.add_argument("--predict", type=Path, default=None,
                   help="write outputs, predicted classes and labels to this .npz file")
    return p


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the `soen-train-eval` console script (exit 2 with one line on bad input)."""
    args = _parser().parse_args(argv)
    from soen_train.config.loading import RUN_CONFIG_FILE, load_job_config

    try:
        if not args.model.is_file() or args.model.suffix not in (".ckpt", ".soen"):
            raise SOENError(f"{args.model}: not a .ckpt or .soen file")
        config = args.config or args.model.parent / RUN_CONFIG_FILE
        if not config.is_file():
            raise SOENError(f"{config} not found: pass the run's {RUN_CONFIG_FILE} with --config")
        from soen_train.training.evaluation import evaluate_model, save_predictions

        result = evaluate_model(load_job_config(config), args.model, args.split, args.data)
    except SOENError as err:
        print(f"Error: {err}", file=sys.stderr)
        sys.exit(2)
    for name, value in sorted(result.metrics.items()):
        print(f"{name:<24}{value:.6g}")
    if args.output:
        args.output.write_text(json.dumps(result.metrics, indent=2))
        print(f"metrics written to {args.output}")
    if args.predict:
        print(f"predictions written to {save_predictions(result, args.predict)}")


if __name__ == "__main__":
    main()
