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
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from soen_train.tracking.tb_events import (
    HISTOGRAM_COLUMNS,
    IMAGE_COLUMNS,
    SCALAR_COLUMNS,
    empty_frame,
    is_event_file,
    parse_event_file,
    rows_frame,
    run_labels,
)

PathLike = Union[str, "os.PathLike[str]"]
Patterns = Union[None, str, Sequence[str]]

COLUMNS_BY_TYPE: Dict[str, Tuple[str, ...]] = {
    "scalars": SCALAR_COLUMNS,
    "histograms": HISTOGRAM_COLUMNS,
    "images": IMAGE_COLUMNS,
}
#: Data types ``to_csv`` can write (images hold binary PNG data and have no CSV form).
CSV_DATA_TYPES: Tuple[str, ...] = ("scalars", "histograms")

_UNSAFE_FILENAME_CHARS = re.compile(r"[^\w-]")


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
            "scalars": rows_frame(parsed.scalars, SCALAR_COLUMNS, run),
            "histograms": rows_frame(parsed.histograms, HISTOGRAM_COLUMNS, run),
            "images": rows_frame(parsed.images, IMAGE_COLUMNS, run),
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
            return empty_frame(columns)
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

        Args:
            tags: regex (or list of regexes, any-of) matched with ``re.search`` against the tag.
            groups: regex (or list, any-of) matched against the group name.
            step_min: first step kept (inclusive), or None.
            step_max: last step kept (inclusive), or None.
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
        sum_squares plus the run columns; ``limits``/``counts`` are float64 arrays.

        Args:
            tags, groups, step_min, step_max: the filters of ``scalars``.
        """
        return self._table("histograms", tags, groups, step_min, step_max)

    def images(
        self,
        tags: Patterns = None,
        groups: Patterns = None,
        step_min: Optional[int] = None,
        step_max: Optional[int] = None,
    ) -> pd.DataFrame:
        """Images: step, tag, image (encoded bytes, PNG from torch), width, height (pixels)
        plus the run columns.

        Args:
            tags, groups, step_min, step_max: the filters of ``scalars``.
        """
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
        ``dir_name`` when more than one run is present.

        Args:
            index: the column that becomes the index.
            columns: the column whose values become columns.
            values: the column that fills the cells.
            tags: tag filter, as in ``scalars``.
            groups: group filter, as in ``scalars``.
        """
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

        Args:
            output: the CSV file, or with ``per_run`` the directory.
            per_run: one file per run instead of one in all.
            data_type: ``"scalars"``, ``"histograms"`` or ``"images"``.
            to_csv_kwargs: passed to ``DataFrame.to_csv``.
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
