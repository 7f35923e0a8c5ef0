"""Read TensorBoard event files of SOEN runs back into pandas DataFrames.

``TBReader`` walks a run tree (an event file, a repeat directory or any level above it),
parses every ``events.out.tfevents.*`` file with TensorBoard's own record reader and returns
scalars, histograms and images as tidy tables. Each row carries the run it came from:
``dir_name`` (the event file's directory relative to the path given), and ``group`` /
``repeat`` parsed from the run layout

    <root>/project_<p>/experiment_<e>/group_<g>/logs/repeat_<k>/events.out.tfevents.*

so results can be aggregated across repeats without bookkeeping. Both the classic summary
protos written by ``torch.utils.tensorboard`` (``simple_value``, ``histo``, ``image``) and the
tensor-based summaries written by TensorFlow 2 style writers are understood.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Sequence, Tuple, Union

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
from tensorboard.util import tensor_util

PathLike = Union[str, "os.PathLike[str]"]
Patterns = Union[None, str, Sequence[str]]

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
COLUMNS_BY_TYPE: Dict[str, Tuple[str, ...]] = {
    "scalars": SCALAR_COLUMNS,
    "histograms": HISTOGRAM_COLUMNS,
    "images": IMAGE_COLUMNS,
}
#: Data types ``to_csv`` can write (images hold binary PNG data and have no CSV form).
CSV_DATA_TYPES: Tuple[str, ...] = ("scalars", "histograms")

_INT_COLUMNS = {"step", "width", "height"}
_FLOAT_COLUMNS = {"value", "wall_time", "min", "max", "num", "sum", "sum_squares"}
_TEXT_COLUMNS = {"tag", "dir_name", "repeat"}  # never missing; "group" may be None
_GROUP_DIR = re.compile(r"^group_(.+)$")
_REPEAT_DIR = re.compile(r"^repeat_.+$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^\w-]")


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


def _empty_frame(columns: Sequence[str]) -> pd.DataFrame:
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


def _rows_frame(
    rows: List[Dict[str, Any]], columns: Sequence[str], run: Dict[str, Any]
) -> pd.DataFrame:
    """A typed frame of parsed rows with the run's columns attached."""
    if not rows:
        return _empty_frame(columns)
    frame = pd.DataFrame(rows)
    for key, val in run.items():
        frame[key] = val
    frame = frame.astype({c: "int64" for c in columns if c in _INT_COLUMNS})
    frame = frame.astype({c: "float64" for c in columns if c in _FLOAT_COLUMNS})
    frame["group"] = frame["group"].astype(object)
    return frame[list(columns)]


def _compile_patterns(patterns: Patterns, what: str) -> Optional[List[Pattern[str]]]:
    """Regexes for a ``tags=``/``groups=`` filter (a string or list of strings, any-of)."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    elif not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise TypeError(
            f"{what}= must be a regex string or a list of regex strings, got {patterns!r}"
        )
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"{what}= pattern {pattern!r} is not a valid regex: {exc}") from exc
    return compiled


def _matches_any(series: pd.Series, patterns: List[Pattern[str]]) -> pd.Series:
    """Boolean mask: the text matches at least one pattern with ``re.search`` (None never does)."""
    return series.map(
        lambda text: isinstance(text, str) and any(p.search(text) for p in patterns)
    ).astype(bool)


def _safe_filename_part(text: str) -> str:
    """Text with every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return _UNSAFE_FILENAME_CHARS.sub("_", text)


class TBReader:
    """Load the TensorBoard logs under a path into DataFrames (the original toolkit's API).

    ``path`` is an event file or a directory at any level of a run tree; directories are
    searched recursively. Parsed files are cached per instance and re-read only when they
    change on disk, so a reader can follow a run that is still training.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"TBReader: no such file or directory: '{self.path}'")
        if self.path.is_file() and not is_event_file(self.path):
            raise ValueError(
                f"TBReader: '{self.path}' is not a TensorBoard event file "
                "(expected a name like events.out.tfevents.*) nor a directory"
            )
        self._root = self.path if self.path.is_dir() else self.path.parent
        # event file -> ((mtime_ns, size), {data type: frame with run columns})
        self._cache: Dict[Path, Tuple[Tuple[int, int], Dict[str, pd.DataFrame]]] = {}

    def __repr__(self) -> str:
        return f"TBReader('{self.path}')"

    # ------------------------------------------------------------------ discovery & parsing
    def event_files(self) -> List[Path]:
        """Every event file under the reader's path, sorted by path."""
        if self.path.is_file():
            return [self.path]
        found = []
        for dirpath, _dirnames, filenames in os.walk(self.path):
            found.extend(Path(dirpath) / name for name in filenames if is_event_file(Path(name)))
        return sorted(found)

    def _run_columns(self, event_file: Path) -> Dict[str, Any]:
        """``dir_name`` (relative to the reader's root, POSIX style), ``group`` and ``repeat``."""
        run_dir = event_file.parent
        dir_name = Path(os.path.relpath(run_dir, self._root)).as_posix()
        group, repeat = run_labels(run_dir)
        return {"dir_name": dir_name, "group": group, "repeat": repeat}

    def _frames_of(self, event_file: Path) -> Dict[str, pd.DataFrame]:
        """The parsed tables of one event file, from the cache unless the file changed."""
        stat = event_file.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(event_file)
        if cached is not None and cached[0] == signature:
            return cached[1]
        parsed = parse_event_file(event_file)
        run = self._run_columns(event_file)
        frames = {
            "scalars": _rows_frame(parsed.scalars, SCALAR_COLUMNS, run),
            "histograms": _rows_frame(parsed.histograms, HISTOGRAM_COLUMNS, run),
            "images": _rows_frame(parsed.images, IMAGE_COLUMNS, run),
        }
        self._cache[event_file] = (signature, frames)
        return frames

    def _table(
        self,
        data_type: str,
        tags: Patterns = None,
        groups: Patterns = None,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
    ) -> pd.DataFrame:
        """All rows of one data type across event files, filtered and sorted."""
        columns = self._columns_for(data_type)
        tag_patterns = _compile_patterns(tags, "tags")
        group_patterns = _compile_patterns(groups, "groups")
        if step_min is not None and step_max is not None and step_min > step_max:
            raise ValueError(f"step_min={step_min} is greater than step_max={step_max}")
        frames = [self._frames_of(f)[data_type] for f in self.event_files()]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return _empty_frame(columns)
        table = pd.concat(frames, ignore_index=True)
        mask = pd.Series(True, index=table.index)
        if tag_patterns is not None:
            mask &= _matches_any(table["tag"], tag_patterns)
        if group_patterns is not None:
            mask &= _matches_any(table["group"], group_patterns)
        if step_min is not None:
            mask &= table["step"] >= step_min
        if step_max is not None:
            mask &= table["step"] <= step_max
        table = table[mask]
        table = table.sort_values(["dir_name", "tag", "step", "wall_time"], kind="stable")
        return table.reset_index(drop=True)

    @staticmethod
    def _columns_for(data_type: str) -> Tuple[str, ...]:
        """The columns of a data type; a clear error for an unknown one."""
        try:
            return COLUMNS_BY_TYPE[data_type]
        except KeyError:
            valid = ", ".join(repr(t) for t in COLUMNS_BY_TYPE)
            raise ValueError(f"unknown data_type {data_type!r}; valid: {valid}") from None

    # ------------------------------------------------------------------ tables
    def scalars(
        self,
        tags: Patterns = None,
        groups: Patterns = None,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
    ) -> pd.DataFrame:
        """Scalar series: step, tag, value, wall_time (s since epoch), dir_name, group, repeat.

        ``tags``/``groups`` are regexes (or lists of them, any-of) matched with ``re.search``
        against the tag and the group name; ``step_min``/``step_max`` are inclusive.
        """
        return self._table("scalars", tags, groups, step_min, step_max)

    def histograms(
        self,
        tags: Patterns = None,
        groups: Patterns = None,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
    ) -> pd.DataFrame:
        """Histograms: step, tag, limits (right bucket edges), counts, min, max, num, sum,
        sum_squares plus the run columns; ``limits``/``counts`` are float64 arrays."""
        return self._table("histograms", tags, groups, step_min, step_max)

    def images(
        self,
        tags: Patterns = None,
        groups: Patterns = None,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
    ) -> pd.DataFrame:
        """Images: step, tag, image (encoded bytes, PNG from torch), width, height (pixels)
        plus the run columns."""
        return self._table("images", tags, groups, step_min, step_max)

    def tags(self, data_type: str = "scalars") -> List[str]:
        """Sorted unique tags of ``"scalars"``, ``"histograms"`` or ``"images"``."""
        return sorted(self._table(data_type)["tag"].unique().tolist())

    def runs(self) -> List[str]:
        """Sorted unique run directories (``dir_name``) holding any scalar, histogram or image."""
        names = set()
        for data_type in COLUMNS_BY_TYPE:
            names.update(self._table(data_type)["dir_name"].unique().tolist())
        return sorted(names)

    def groups(self) -> List[str]:
        """Sorted unique group names (``"BaseModel"`` for ``group_BaseModel``) holding any data."""
        names = set()
        for data_type in COLUMNS_BY_TYPE:
            names.update(g for g in self._table(data_type)["group"].unique() if isinstance(g, str))
        return sorted(names)

    def summary(self) -> Dict[str, Any]:
        """What is there: ``{path, runs, groups, scalars: {count, tags}, histograms: {...},
        images: {...}}`` (count = number of rows)."""
        info: Dict[str, Any] = {
            "path": str(self.path),
            "runs": self.runs(),
            "groups": self.groups(),
        }
        for data_type in COLUMNS_BY_TYPE:
            table = self._table(data_type)
            info[data_type] = {
                "count": len(table),
                "tags": sorted(table["tag"].unique().tolist()),
            }
        return info

    def pivot(
        self,
        index: str = "step",
        columns: str = "tag",
        values: str = "value",
        tags: Patterns = None,
        groups: Patterns = None,
    ) -> pd.DataFrame:
        """Scalars in wide form (one column per tag, first value per cell); the index gains
        ``dir_name`` when more than one run is present."""
        table = self.scalars(tags=tags, groups=groups)
        for name, column in (("index", index), ("columns", columns), ("values", values)):
            if column not in table.columns:
                raise ValueError(
                    f"pivot {name}={column!r} is not a scalar column; valid: {list(table.columns)}"
                )
        if table.empty:
            return pd.DataFrame()
        keys: Union[str, List[str]] = index
        if table["dir_name"].nunique() > 1 and index != "dir_name":
            keys = ["dir_name", index]
        return table.pivot_table(index=keys, columns=columns, values=values, aggfunc="first")

    # ------------------------------------------------------------------ export
    def to_csv(
        self,
        output: PathLike,
        per_run: bool = False,
        data_type: str = "scalars",
        **to_csv_kwargs: Any,
    ) -> List[Path]:
        """Write a data type to CSV and return the written paths.

        ``per_run=False``: one file at ``output``. ``per_run=True``: ``output`` is a
        directory (created if needed) with one ``<group>_<repeat>_<data_type>.csv`` per run;
        characters outside ``[A-Za-z0-9_-]`` become ``_`` and clashing names get ``_1``,
        ``_2``... Histogram ``limits``/``counts`` are written as JSON lists. Extra keyword
        arguments go to ``DataFrame.to_csv`` (``index=False`` unless given).
        """
        if data_type not in CSV_DATA_TYPES:
            self._columns_for(data_type)  # unknown type -> the general error
            raise ValueError(
                f"to_csv cannot write data_type {data_type!r} (binary image data); "
                f"valid: {', '.join(repr(t) for t in CSV_DATA_TYPES)}. "
                "Use images() to get the PNG bytes."
            )
        table = self._table(data_type)
        if table.empty:
            raise ValueError(f"no {data_type} found under '{self.path}'; nothing to write to CSV")
        if data_type == "histograms":
            table = table.copy()
            for column in ("limits", "counts"):
                table[column] = table[column].map(lambda a: json.dumps(np.asarray(a).tolist()))
        to_csv_kwargs.setdefault("index", False)
        output = Path(output)
        if not per_run:
            output.parent.mkdir(parents=True, exist_ok=True)
            table.to_csv(output, **to_csv_kwargs)
            return [output]
        if output.exists() and not output.is_dir():
            raise NotADirectoryError(
                f"to_csv(per_run=True) needs a directory, but '{output}' is a file"
            )
        output.mkdir(parents=True, exist_ok=True)
        written: List[Path] = []
        used: set = set()
        for _dir_name, run_table in table.groupby("dir_name", sort=True):
            stem = self._run_file_stem(run_table.iloc[0]["group"], run_table.iloc[0]["repeat"])
            name, counter = f"{stem}_{data_type}", 0
            while name in used:
                counter += 1
                name = f"{stem}_{data_type}_{counter}"
            used.add(name)
            path = output / f"{name}.csv"
            run_table.to_csv(path, **to_csv_kwargs)
            written.append(path)
        return written

    @staticmethod
    def _run_file_stem(group: Optional[str], repeat: Optional[str]) -> str:
        """``<group>_<repeat>`` (or whichever part exists, else ``run``), filename-safe."""
        parts = [p for p in (group, repeat) if isinstance(p, str) and p]
        return _safe_filename_part("_".join(parts) if parts else "run")


def read_tb_logs(path: PathLike, **scalars_kwargs: Any) -> pd.DataFrame:
    """Scalars under ``path`` in one call: ``TBReader(path).scalars(**scalars_kwargs)``."""
    return TBReader(path).scalars(**scalars_kwargs)


__all__ = [
    "HISTOGRAM_COLUMNS",
    "IMAGE_COLUMNS",
    "SCALAR_COLUMNS",
    "TBReader",
    "is_event_file",
    "parse_event_file",
    "read_tb_logs",
    "run_labels",
]
