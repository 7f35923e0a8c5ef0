"""Parsing one TensorBoard event file into rows, and the typed tables those rows make.

Both the classic summary protos written by ``torch.utils.tensorboard`` (``simple_value``,
``histo``, ``image``) and the tensor-based summaries of TensorFlow 2 style writers are read,
with TensorBoard's own record reader. :func:`run_labels` reads ``group`` / ``repeat`` from the
run layout. Walking run trees and filtering is :class:`soen_train.tracking.tb_reader.TBReader`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.util import tensor_util

#: Columns identifying the run a row came from (appended to every table).
RUN_COLUMNS: Tuple[str, ...] = ("wall_time", "dir_name", "group", "repeat")
SCALAR_COLUMNS: Tuple[str, ...] = ("step", "tag", "value") + RUN_COLUMNS
HISTOGRAM_COLUMNS: Tuple[str, ...] = (
    "step",
    "tag",
    "limits",
    "counts",
    "min",
    "max",
    "num",
    "sum",
    "sum_squares",
) + RUN_COLUMNS
IMAGE_COLUMNS: Tuple[str, ...] = ("step", "tag", "image", "width", "height") + RUN_COLUMNS

_INT_COLUMNS = {"step", "width", "height"}
_FLOAT_COLUMNS = {"value", "wall_time", "min", "max", "num", "sum", "sum_squares"}
_TEXT_COLUMNS = {"tag", "dir_name", "repeat"}  # never missing; "group" may be None
_GROUP_DIR = re.compile(r"^group_(.+)$")
_REPEAT_DIR = re.compile(r"^repeat_.+$")


def is_event_file(path: Path) -> bool:
    """True for a TensorBoard event file name (``events.out.tfevents.*``), as TensorBoard checks."""
    return "tfevents" in path.name


def run_labels(run_dir: Path) -> Tuple[Optional[str], str]:
    """``(group, repeat)`` of a run directory, parsed from the SOEN run layout.

    ``group`` is the name after the last ``group_`` path component (``group_BaseModel`` ->
    ``"BaseModel"``), or None when there is none. ``repeat`` is the last ``repeat_*``
    component (``"repeat_0"``, or ``"repeat_0_20240101_120000"`` for a re-run), else what
    follows a ``logs`` component, else the run directory's own name.
    """
    parts = Path(os.path.abspath(run_dir)).parts
    group: Optional[str] = None
    repeat: Optional[str] = None
    for part in parts:
        match = _GROUP_DIR.match(part)
        if match:
            group = match.group(1)
        if _REPEAT_DIR.match(part):
            repeat = part
    if repeat is None:
        if "logs" in parts[:-1]:
            last_logs = len(parts) - 1 - parts[::-1].index("logs")
            repeat = "/".join(parts[last_logs + 1 :])
        else:
            repeat = parts[-1] if parts else ""
    return group, repeat


@dataclass
class _ParsedEvents:
    """Rows of one event file, before the run columns are attached."""

    scalars: List[Dict[str, Any]] = field(default_factory=list)
    histograms: List[Dict[str, Any]] = field(default_factory=list)
    images: List[Dict[str, Any]] = field(default_factory=list)


def _histogram_from_proto(histo: Any) -> Dict[str, Any]:
    """Histogram row fields from a classic ``HistogramProto`` (right bucket edges + counts)."""
    return {
        "limits": np.asarray(histo.bucket_limit, dtype=np.float64),
        "counts": np.asarray(histo.bucket, dtype=np.float64),
        "min": float(histo.min),
        "max": float(histo.max),
        "num": float(histo.num),
        "sum": float(histo.sum),
        "sum_squares": float(histo.sum_squares),
    }


def _histogram_from_tensor(buckets: np.ndarray) -> Dict[str, Any]:
    """Histogram row fields from a tensor summary: ``[k, 3]`` rows of (left, right, count)."""
    buckets = np.asarray(buckets, dtype=np.float64).reshape(-1, 3)
    counts = buckets[:, 2]
    empty = buckets.shape[0] == 0
    return {
        "limits": buckets[:, 1].copy(),
        "counts": counts.copy(),
        "min": float("nan") if empty else float(buckets[0, 0]),
        "max": float("nan") if empty else float(buckets[-1, 1]),
        "num": float(counts.sum()),
        # Tensor histograms do not record the exact sums; report them as unknown.
        "sum": float("nan"),
        "sum_squares": float("nan"),
    }


def _images_from_tensor(data: np.ndarray) -> List[Dict[str, Any]]:
    """Image rows from a tensor summary ``[width, height, png, png, ...]`` (one row per image)."""
    flat = np.asarray(data, dtype=object).reshape(-1)
    if flat.size < 3:
        return []
    width, height = int(flat[0]), int(flat[1])
    return [{"image": bytes(png), "width": width, "height": height} for png in flat[2:]]


def parse_event_file(path: Path) -> _ParsedEvents:
    """Every scalar, histogram and image record of one event file, in file order.

    Uses TensorBoard's record reader, which stops quietly at a truncated last record (a run
    still being written). Summaries of other plugins (text, hparams, audio, ...) are skipped.
    """
    parsed = _ParsedEvents()
    plugin_of_tag: Dict[str, str] = {}  # tensor summaries carry their plugin name only once
    for event in LegacyEventFileLoader(str(path)).Load():
        if not event.HasField("summary"):
            continue
        step, wall_time = int(event.step), float(event.wall_time)
        for value in event.summary.value:
            base = {"step": step, "tag": value.tag, "wall_time": wall_time}
            if value.metadata.plugin_data.plugin_name:
                plugin_of_tag[value.tag] = value.metadata.plugin_data.plugin_name
            kind = value.WhichOneof("value")
            if kind == "simple_value":
                parsed.scalars.append({**base, "value": float(value.simple_value)})
            elif kind == "histo":
                parsed.histograms.append({**base, **_histogram_from_proto(value.histo)})
            elif kind == "image":
                image = value.image
                parsed.images.append(
                    {
                        **base,
                        "image": bytes(image.encoded_image_string),
                        "width": int(image.width),
                        "height": int(image.height),
                    }
                )
            elif kind == "tensor":
                plugin = plugin_of_tag.get(value.tag, "")
                if plugin == "scalars":
                    array = tensor_util.make_ndarray(value.tensor)
                    parsed.scalars.append(
                        {**base, "value": float(np.asarray(array).reshape(-1)[0])}
                    )
                elif plugin == "histograms":
                    array = tensor_util.make_ndarray(value.tensor)
                    parsed.histograms.append({**base, **_histogram_from_tensor(array)})
                elif plugin == "images":
                    array = tensor_util.make_ndarray(value.tensor)
                    parsed.images.extend({**base, **row} for row in _images_from_tensor(array))
    return parsed


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """A frame with no rows but the given columns and their usual dtypes."""
    data = {}
    for column in columns:
        if column in _INT_COLUMNS:
            data[column] = pd.Series(dtype="int64")
        elif column in _FLOAT_COLUMNS:
            data[column] = pd.Series(dtype="float64")
        elif column in _TEXT_COLUMNS:
            data[column] = pd.Series(dtype=str)
        else:
            data[column] = pd.Series(dtype="object")
    return pd.DataFrame(data, columns=list(columns))


def rows_frame(
    rows: List[Dict[str, Any]], columns: Sequence[str], run: Dict[str, Any]
) -> pd.DataFrame:
    """A typed frame of parsed rows with the run's columns attached."""
    if not rows:
        return empty_frame(columns)
    frame = pd.DataFrame(rows)
    for key, val in run.items():
        frame[key] = val
    frame = frame.astype({c: "int64" for c in columns if c in _INT_COLUMNS})
    frame = frame.astype({c: "float64" for c in columns if c in _FLOAT_COLUMNS})
    frame["group"] = frame["group"].astype(object)
    return frame[list(columns)]
