"""What a user sees and gets at the end of a run: the report, the files it names, the eval
command, one copy of each log line, every file under logging.project_dir, TensorBoard HParams."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SOEN_TRAIN_EVAL = str(Path(sys.executable).with_name("soen-train-eval"))


def _result(root: Path) -> dict:
    (path,) = list((root / "outputs").rglob("soen_result.json"))
    return json.loads(path.read_text())


def _report_paths(stdout: str) -> dict[str, Path]:
    """`label   /abs/path` lines of the Outputs block."""
    block = stdout.split("Outputs:", 1)[1].split("Open them with:", 1)[0]
    found = {}
    for line in block.strip().splitlines():
        label, _, value = line.strip().partition("  ")
        found[label.strip()] = Path(value.strip()) if value.strip().startswith("/") else value.strip()
    return found


@pytest.fixture(scope="module")
def trained(module_cli, tiny_pulses_args):
    """One tiny pulses run shared by the tests of this module."""
    out = module_cli("experiment=pulses", *tiny_pulses_args, "training.max_epochs=3")
    return module_cli.root, out


def test_report_names_metrics_and_existing_paths(trained):
    root, out = trained
    result = _result(root)
    metrics = result["repeats"][0]["metrics"]
    text = out.stdout
    assert "Run finished." in text and "Test metrics:" in text
    row = next(ln for ln in text.splitlines() if re.match(r"\s+0\s+\d", ln))
    assert f"{metrics['test_accuracy']:.4f}" in row and f"{metrics['test_loss']:.4f}" in row
    paths = _report_paths(text)
    for label in ("job folder", "checkpoints", "best checkpoint", "best.soen", "TensorBoard logs"):
        assert Path(paths[label]).exists(), label
    assert paths["best checkpoint"] == Path(result["repeats"][0]["best_checkpoint"])
    assert paths["MLflow store"] == "sqlite:///" + str(root / "experiments/project_soen/mlflow.db")
    logs = paths["TensorBoard logs"]
    assert f"tensorboard --logdir {logs}" in text
    assert f"mlflow ui --backend-store-uri {paths['MLflow store']}" in text
    assert list(Path(logs).glob("events.out.tfevents.*"))


def test_each_log_line_once_and_no_logger_version_in_the_bar(trained):
    _, out = trained
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if "Trainer.fit` stopped" in ln]
    assert len(lines) == 1
    assert "v_num" not in out.stdout + out.stderr


def test_every_file_under_the_project_dir(trained):
    root, _ = trained
    assert not (root / "mlruns").exists()  # MLflow's default artifact folder is not used
    project = root / "experiments" / "project_soen"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (exp,) = [e for e in client.search_experiments() if e.name == "pulses"]
    assert exp.artifact_location == (project / "mlartifacts").as_uri()
    (run,) = client.search_runs([exp.experiment_id])
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["best.soen"] or any(
        a.path == "best.soen" for a in client.list_artifacts(run.info.run_id)
    )
    assert list((project / "mlartifacts").rglob("best.soen"))
    ckpts = project / "experiment_pulses/group_default_group/checkpoints/repeat_0"
    link = ckpts / "hydra_job"
    assert link.is_symlink() and (link / ".hydra" / "config.yaml").is_file()
    assert (ckpts / "run_config.yaml").is_file()


def test_tensorboard_hparams_hold_settings_and_final_metrics(trained):
    root, _ = trained
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (logs,) = list((root / "experiments").rglob("logs/repeat_0"))
    acc = EventAccumulator(str(logs))
    acc.Reload()
    assert "hparams" in acc.PluginTagToContent("hparams") or acc.PluginTagToContent("hparams")
    final = acc.Scalars("hparams/test_accuracy")
    result = _result(root)["repeats"][0]["metrics"]
    assert final[-1].value == pytest.approx(result["test_accuracy"])


@pytest.mark.parametrize("which", ["best_ckpt", "best_soen"])
def test_eval_command_equals_the_runs_test_metrics(trained, which, tmp_path):
    root, _ = trained
    result = _result(root)["repeats"][0]
    model = Path(result["best_checkpoint"])
    if which == "best_soen":
        model = model.parent / "best.soen"
    out_json, preds = tmp_path / "m.json", tmp_path / "p.npz"
    done = subprocess.run(
        [SOEN_TRAIN_EVAL, str(model), "--output", str(out_json), "--predict", str(preds)],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(out_json.read_text())
    assert metrics["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"], abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(result["metrics"]["test_loss"], rel=1e-5)
    with np.load(preds, allow_pickle=False) as arrays:
        accuracy = float((arrays["predicted"] == arrays["targets"]).mean())
        assert arrays["outputs"].shape == (32, 2)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_eval_command_refuses_a_wrong_file_in_one_line(tmp_path):
    bad = tmp_path / "model.txt"
    bad.write_text("x")
    done = subprocess.run([SOEN_TRAIN_EVAL, str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("Error:")
    assert str(bad) in done.stderr


def test_mnist_downloads_from_a_mirror_on_first_use(cli, mnist_mirror, dead_url):
    url, md5, hits, _ = mnist_mirror
    md5_override = "{" + ",".join(f"{k}:{v}" for k, v in md5.items()) + "}"
    out = cli(
        "+experiment=mnist", f"data.dataset_params.mirrors=[{dead_url},{url}]",
        f"data.dataset_params.md5={md5_override}",
        "training.max_epochs=1", "logging.progress_bar=false",
    )
    assert len(hits) == 4 and "Run finished." in out.stdout
    assert sorted(p.name for p in (cli.root / "data" / "mnist").iterdir()) == sorted(md5)
    assert (cli.root / "data" / "mnist.h5").is_file()


def test_mnist_offline_is_one_line_before_anything_else(cli, dead_url):
    out = cli("+experiment=mnist", f"data.dataset_params.mirrors=[{dead_url}]", expect_ok=False)
    assert out.returncode == 2
    assert out.stdout == ""
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("Error:") and dead_url + "train-images-idx3-ubyte.gz" in line
    assert "data/mnist" in line
    assert sorted(p.name for p in cli.root.iterdir()) == []  # no job folder, no empty data folder


def test_documented_mlflow_ui_lists_the_run(trained, dead_url):
    """`mlflow ui --backend-store-uri ...` as the report prints it: start, read runs, stop."""
    import os
    import signal
    import time
    import urllib.request

    root, out = trained
    command = next(ln.strip() for ln in out.stdout.splitlines() if ln.strip().startswith("mlflow ui"))
    port = dead_url.rsplit(":", 1)[1].strip("/")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    argv = [mlflow, *command.split()[1:], "--host", "127.0.0.1", "--port", port]
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"mlflow ui did not start: {proc.stderr.read()[-2000:]}") from None
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/search?max_results=50") as r:
            experiments = json.loads(r.read())["experiments"]
        (exp,) = [e for e in experiments if e["name"] == "pulses"]
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": [exp["experiment_id"]]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as r:
            runs = json.loads(r.read())["runs"]
        assert len(runs) == 1
        run_metrics = {m["key"]: m["value"] for m in runs[0]["data"]["metrics"]}
        expected = _result(root)["repeats"][0]["metrics"]["test_accuracy"]
        assert run_metrics["test_accuracy"] == pytest.approx(expected)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_print_config_full_and_none(cli, tiny_pulses):
    full = cli("experiment=pulses", *tiny_pulses, "training.max_epochs=1", "logger=tensorboard",
               "logging.print_config=full")
    assert "soen-train config" in full.stdout and "max_epochs: 1" in full.stdout
    none = cli("experiment=pulses", *tiny_pulses, "training.max_epochs=1", "logger=tensorboard",
               "logging.print_config=none")
    assert "soen-train config" not in none.stdout and not none.stdout.startswith("soen-train:")
    assert "Run finished." in none.stdout
