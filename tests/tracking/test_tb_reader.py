"""TBReader against real event files written by torch's SummaryWriter in the SOEN run layout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from soen_train.tracking import tb_reader as tb_reader_module
from soen_train.tracking.tb_reader import (
    HISTOGRAM_COLUMNS,
    IMAGE_COLUMNS,
    SCALAR_COLUMNS,
    TBReader,
    read_tb_logs,
    run_labels,
)

GROUPS = {"BaseModel": 0, "Wide": 1}
REPEATS = (0, 1)
TRAIN_STEPS = range(5)
VAL_STEPS = (4, 9)
HIST_TAG = "connection_histograms/J_0_to_1"
IMAGE_TAG = "state_trajectories/sample_0"
HIST_BASE = np.array([-1.0, 0.5, 0.5, 2.0, 3.5])


def train_loss(g: int, k: int, step: int) -> float:
    """The train_loss written for group index g, repeat k (values exact in float32)."""
    return 1.0 + g + 0.25 * k - 0.125 * step


def val_accuracy(g: int, k: int, step: int) -> float:
    """The val_accuracy written for group index g, repeat k."""
    return 0.5 + 0.125 * g + 0.0625 * k + (0.25 if step == 9 else 0.0)


def image_pixels(g: int, k: int) -> np.ndarray:
    """A 3x4x6 (CHW) uint8 image unique to the run."""
    return (np.arange(3 * 4 * 6, dtype=np.uint8).reshape(3, 4, 6) + 50 * g + 10 * k).astype(
        np.uint8
    )


def repeat_dir(root: Path, group: str, k: int) -> Path:
    return root / "project_P" / "experiment_E" / f"group_{group}" / "logs" / f"repeat_{k}"


def write_run(log_dir: Path, g: int, k: int) -> None:
    """One repeat's events: scalars, a histogram and an image, like a SOEN training run."""
    writer = SummaryWriter(log_dir=str(log_dir))
    for step in TRAIN_STEPS:
        writer.add_scalar("train_loss", train_loss(g, k, step), step)
    for step in VAL_STEPS:
        writer.add_scalar("val_accuracy", val_accuracy(g, k, step), step)
    writer.add_histogram(HIST_TAG, HIST_BASE + g, 4, bins=4)
    writer.add_image(IMAGE_TAG, image_pixels(g, k), 4)
    writer.close()


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiments")
    for group, g in GROUPS.items():
        for k in REPEATS:
            write_run(repeat_dir(root, group, k), g, k)
    return root


def test_scalars_values_columns_and_run_labels(experiments: Path) -> None:
    df = TBReader(experiments).scalars()
    assert list(df.columns) == list(SCALAR_COLUMNS)
    assert len(df) == len(GROUPS) * len(REPEATS) * (len(TRAIN_STEPS) + len(VAL_STEPS))
    assert df["step"].dtype == np.int64 and df["value"].dtype == np.float64
    for group, g in GROUPS.items():
        for k in REPEATS:
            run = df[(df.group == group) & (df.repeat == f"repeat_{k}")]
            assert set(run.dir_name) == {f"project_P/experiment_E/group_{group}/logs/repeat_{k}"}
            loss = run[run.tag == "train_loss"]
            assert loss.step.tolist() == list(TRAIN_STEPS)
            assert loss.value.tolist() == [train_loss(g, k, s) for s in TRAIN_STEPS]
            acc = run[run.tag == "val_accuracy"]
            assert acc.value.tolist() == [val_accuracy(g, k, s) for s in VAL_STEPS]
    assert (df.wall_time > 1e9).all()


def test_groups_runs_tags_and_summary(experiments: Path) -> None:
    reader = TBReader(experiments)
    assert reader.groups() == ["BaseModel", "Wide"]
    assert reader.runs() == [
        f"project_P/experiment_E/group_{group}/logs/repeat_{k}" for group in GROUPS for k in REPEATS
    ]
    assert reader.tags() == ["train_loss", "val_accuracy"]
    assert reader.tags("histograms") == [HIST_TAG]
    assert reader.tags(data_type="images") == [IMAGE_TAG]
    with pytest.raises(ValueError, match="unknown data_type 'audio'.*'scalars'"):
        reader.tags("audio")
    summary = reader.summary()
    assert summary == {
        "path": str(experiments),
        "runs": reader.runs(),
        "groups": ["BaseModel", "Wide"],
        "scalars": {"count": 28, "tags": ["train_loss", "val_accuracy"]},
        "histograms": {"count": 4, "tags": [HIST_TAG]},
        "images": {"count": 4, "tags": [IMAGE_TAG]},
    }


def test_any_level_repeat_dir_and_single_event_file(experiments: Path) -> None:
    run = repeat_dir(experiments, "Wide", 1)
    for path in (run, next(run.glob("events.out.tfevents.*"))):
        df = TBReader(path).scalars(tags="train_loss")
        assert df.dir_name.unique().tolist() == ["."]
        assert df.group.unique().tolist() == ["Wide"]
        assert df.repeat.unique().tolist() == ["repeat_1"]
        assert df.value.tolist() == [train_loss(1, 1, s) for s in TRAIN_STEPS]
    group_level = TBReader(experiments / "project_P" / "experiment_E" / "group_BaseModel")
    assert group_level.runs() == ["logs/repeat_0", "logs/repeat_1"]
    assert group_level.groups() == ["BaseModel"]


def test_run_labels_parsing() -> None:
    assert run_labels(Path("/x/project_a/experiment_b/group_Base_Model/logs/repeat_3")) == (
        "Base_Model",
        "repeat_3",
    )
    assert run_labels(Path("/x/group_g/logs/repeat_0_20240101_120000")) == (
        "g",
        "repeat_0_20240101_120000",
    )
    assert run_labels(Path("/x/group_g/logs/version_2")) == ("g", "version_2")
    assert run_labels(Path("/tmp/some/run")) == (None, "run")


def test_filters_regex_lists_groups_and_steps(experiments: Path) -> None:
    reader = TBReader(experiments)
    assert set(reader.scalars(tags="loss$").tag) == {"train_loss"}
    assert set(reader.scalars(tags="^val_acc").tag) == {"val_accuracy"}
    both = reader.scalars(tags=["^train", "accuracy"])
    assert set(both.tag) == {"train_loss", "val_accuracy"}
    wide = reader.scalars(groups="^Wide$")
    assert set(wide.group) == {"Wide"} and len(wide) == 14
    assert set(reader.scalars(groups=["Base", "Wid"]).group) == {"BaseModel", "Wide"}
    window = reader.scalars(tags="train_loss", groups="Base", step_min=1, step_max=3)
    assert sorted(set(window.step)) == [1, 2, 3] and len(window) == 6
    assert window.index.tolist() == list(range(6))
    late = reader.scalars(step_min=5)
    assert set(late.step) == {9} and set(late.tag) == {"val_accuracy"}


def test_filter_matching_nothing_keeps_columns_and_bad_filters_fail(experiments: Path) -> None:
    reader = TBReader(experiments)
    empty = reader.scalars(tags="no_such_tag")
    assert empty.empty and list(empty.columns) == list(SCALAR_COLUMNS)
    assert reader.histograms(groups="nobody").columns.tolist() == list(HISTOGRAM_COLUMNS)
    with pytest.raises(ValueError, match=r"tags= pattern '\(' is not a valid regex"):
        reader.scalars(tags="(")
    with pytest.raises(TypeError, match="groups= must be a regex string"):
        reader.scalars(groups=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step_min=5 is greater than step_max=2"):
        reader.scalars(step_min=5, step_max=2)


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "project_X"
    with pytest.raises(FileNotFoundError, match="nope/project_X"):
        TBReader(missing)
    notes = tmp_path / "notes.txt"
    notes.write_text("not events")
    with pytest.raises(ValueError, match="notes.txt' is not a TensorBoard event file"):
        TBReader(notes)


def test_histograms_match_numpy_histogram(experiments: Path) -> None:
    df = TBReader(experiments).histograms()
    assert list(df.columns) == list(HISTOGRAM_COLUMNS)
    assert len(df) == 4 and set(df.step) == {4} and set(df.tag) == {HIST_TAG}
    for group, g in GROUPS.items():
        values = HIST_BASE + g
        counts, edges = np.histogram(values, bins=4)
        for _, row in df[df.group == group].iterrows():
            # torch stores right bucket edges; the leading empty bucket closes the range at min
            np.testing.assert_allclose(row["limits"], edges)
            np.testing.assert_array_equal(row["counts"], np.concatenate([[0], counts]))
            assert row["min"] == values.min() and row["max"] == values.max()
            assert row["num"] == len(values)
            assert row["sum"] == pytest.approx(values.sum())
            assert row["sum_squares"] == pytest.approx((values**2).sum())


def test_images_are_png_with_the_written_pixels(experiments: Path) -> None:
    df = TBReader(experiments).images(tags="sample_0", groups="Wide")
    assert list(df.columns) == list(IMAGE_COLUMNS)
    assert len(df) == 2
    for _, row in df.iterrows():
        assert row["image"][:8] == b"\x89PNG\r\n\x1a\n"
        assert (row["width"], row["height"]) == (6, 4)
        k = int(row["repeat"].split("_")[1])
        decoded = np.asarray(Image.open(io.BytesIO(row["image"])))
        np.testing.assert_array_equal(decoded, image_pixels(1, k).transpose(1, 2, 0))


def test_tensor_style_summaries_are_read(tmp_path: Path) -> None:
    """Scalars, histograms and images stored as tensors (TF2-style writers) are understood."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.histogram.summary import histogram_pb
    from tensorboard.util import tensor_util

    writer = SummaryWriter(log_dir=str(tmp_path / "group_T" / "logs" / "repeat_0"))
    writer.add_scalar("lr", 0.25, 7, new_style=True)
    writer.add_scalar("lr", 0.125, 8, new_style=True)  # later events carry no plugin metadata
    file_writer = writer._get_file_writer()
    file_writer.add_summary(histogram_pb("w", np.array([0.0, 1.0, 1.0, 2.0]), buckets=2), 7)
    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images")
    )
    tensor = tensor_util.make_tensor_proto([b"2", b"1", b"first", b"second"])
    file_writer.add_summary(
        summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="pics", metadata=meta, tensor=tensor)]
        ),
        7,
    )
    writer.close()
    reader = TBReader(tmp_path)
    scalars = reader.scalars()
    assert scalars.step.tolist() == [7, 8] and scalars.value.tolist() == [0.25, 0.125]
    hist = reader.histograms().iloc[0]
    np.testing.assert_allclose(hist["limits"], [1.0, 2.0])
    np.testing.assert_array_equal(hist["counts"], [1.0, 3.0])
    assert (hist["min"], hist["max"], hist["num"]) == (0.0, 2.0, 4.0)
    assert np.isnan(hist["sum"])
    images = reader.images()
    assert images.image.tolist() == [b"first", b"second"]
    assert images.width.tolist() == [2, 2] and images.height.tolist() == [1, 1]
    assert reader.groups() == ["T"]


def test_to_csv_single_file_round_trip(experiments: Path, tmp_path: Path) -> None:
    reader = TBReader(experiments)
    out = tmp_path / "nested" / "metrics.csv"
    assert reader.to_csv(out) == [out]
    back = pd.read_csv(out)
    assert back.columns.tolist() == list(SCALAR_COLUMNS)
    expected = reader.scalars()
    assert back.value.tolist() == expected.value.tolist()
    assert back.step.tolist() == expected.step.tolist()
    assert back.group.tolist() == expected.group.tolist()
    hist_out = reader.to_csv(tmp_path / "hist.csv", data_type="histograms")[0]
    hist_back = pd.read_csv(hist_out)
    first = reader.histograms().iloc[0]
    assert json.loads(hist_back.loc[0, "counts"]) == first["counts"].tolist()
    assert json.loads(hist_back.loc[0, "limits"]) == pytest.approx(first["limits"].tolist())


def test_to_csv_per_run_names_and_contents(experiments: Path, tmp_path: Path) -> None:
    reader = TBReader(experiments)
    paths = reader.to_csv(tmp_path / "per_run", per_run=True)
    assert sorted(p.name for p in paths) == [
        f"{group}_repeat_{k}_scalars.csv" for group in GROUPS for k in REPEATS
    ]
    for path in paths:
        content = pd.read_csv(path)
        group, _, k = path.stem.removesuffix("_scalars").rpartition("_repeat_")
        g = GROUPS[group]
        assert set(content.group) == {group} and set(content.repeat) == {f"repeat_{k}"}
        loss = content[content.tag == "train_loss"]
        assert loss.value.tolist() == [train_loss(g, int(k), s) for s in TRAIN_STEPS]


def test_to_csv_per_run_safe_names_and_collisions(tmp_path: Path) -> None:
    logs = tmp_path / "logs_root"
    for experiment in ("a", "b"):
        run = logs / f"experiment_{experiment}" / "group_my model+v2" / "logs" / "repeat_0"
        writer = SummaryWriter(log_dir=str(run))
        writer.add_scalar("val_loss", 0.5 if experiment == "a" else 0.75, 1)
        writer.close()
    paths = TBReader(logs).to_csv(tmp_path / "csv", per_run=True)
    assert [p.name for p in paths] == [
        "my_model_v2_repeat_0_scalars.csv",
        "my_model_v2_repeat_0_scalars_1.csv",
    ]
    assert [pd.read_csv(p).value.tolist() for p in paths] == [[0.5], [0.75]]


def test_to_csv_refuses_empty_images_and_files(tmp_path: Path, experiments: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no scalars found under .*empty"):
        TBReader(tmp_path / "empty").to_csv(tmp_path / "x.csv")
    reader = TBReader(experiments)
    with pytest.raises(ValueError, match="cannot write data_type 'images'"):
        reader.to_csv(tmp_path / "x.csv", data_type="images")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    with pytest.raises(NotADirectoryError, match="a_file"):
        reader.to_csv(a_file, per_run=True)


def test_pivot_wide_form(experiments: Path) -> None:
    reader = TBReader(experiments)
    wide = reader.pivot()
    assert list(wide.columns) == ["train_loss", "val_accuracy"]
    assert wide.index.names == ["dir_name", "step"]
    run = "project_P/experiment_E/group_Wide/logs/repeat_1"
    assert wide.loc[(run, 3), "train_loss"] == train_loss(1, 1, 3)
    assert wide.loc[(run, 9), "val_accuracy"] == val_accuracy(1, 1, 9)
    single = TBReader(repeat_dir(experiments, "BaseModel", 0)).pivot(tags="train_loss")
    assert single.index.name == "step"
    assert single["train_loss"].tolist() == [train_loss(0, 0, s) for s in TRAIN_STEPS]
    with pytest.raises(ValueError, match="pivot values='nope'"):
        reader.pivot(values="nope")


def test_read_tb_logs_shortcut(experiments: Path) -> None:
    df = read_tb_logs(experiments, tags="val_accuracy", groups="Base", step_min=9)
    assert df.value.tolist() == [val_accuracy(0, k, 9) for k in REPEATS]


def test_cache_parses_each_file_once_and_follows_growth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list = []
    real_parse = tb_reader_module.parse_event_file

    def counting_parse(path: Path):
        parsed.append(path)
        return real_parse(path)

    monkeypatch.setattr(tb_reader_module, "parse_event_file", counting_parse)
    live = SummaryWriter(log_dir=str(tmp_path / "group_L" / "logs" / "repeat_0"))
    live.add_scalar("train_loss", 2.0, 0)
    live.flush()
    still = SummaryWriter(log_dir=str(tmp_path / "group_S" / "logs" / "repeat_0"))
    still.add_scalar("train_loss", 3.0, 0)
    still.close()
    reader = TBReader(tmp_path)
    assert reader.scalars().value.tolist() == [2.0, 3.0]
    reader.summary()
    reader.to_csv(tmp_path / "out.csv")
    assert len(parsed) == 2  # every query after the first is served from the cache
    live.add_scalar("train_loss", 1.5, 1)
    live.close()
    assert reader.scalars(groups="L").value.tolist() == [2.0, 1.5]
    assert len(parsed) == 3 and parsed[-1].parent.parts[-3] == "group_L"
