"""Suite-wide isolation: code under test may export environment variables (secrets moved out
of the command line, MLflow credentials, DDP folder hand-over); none may leak into later tests
or the subprocesses they start."""

import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from soen_train.data.idx_format import write_idx


@pytest.fixture(autouse=True)
def _restore_environment():
    saved = dict(os.environ)
    yield
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


# MNIST mirror on 127.0.0.1 (real HTTP server) for the download tests
NAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def write_fake_mnist(folder: Path, n_train: int = 40, n_test: int = 20) -> dict[str, str]:
    """Four gzipped IDX files in ``folder``; returns file name -> MD5."""
    rng = np.random.default_rng(3)
    arrays = {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for key, name in NAMES.items():
        path = write_idx(folder / name, arrays[key])
        md5[name] = hashlib.md5(path.read_bytes()).hexdigest()
    return md5


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def mnist_mirror(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/served``; yields (url, md5, hits)."""
    served = tmp_path / "served"
    md5 = write_fake_mnist(served)
    hits: list[str] = []

    class Handler(_QuietHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", md5, hits, served
    server.shutdown()
    server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# Test tiers. Every test gets at most one of the markers slow / e2e / services, from where it
# lives; the rest is the unit tier (`make test-fast`: pytest -m "not slow and not e2e and not
# services"). `make test` (CI) runs every tier. Whole directories are tiered by what they do;
# SLOW_FILES are files whose tests start real trainings or `soen-train` processes, or compile
# JAX (each test about a second or more); SLOW_TESTS are single tests measured at 0.5 s or more
# (with --durations, 2 cores) in otherwise fast files. A parametrized test is named once.
TIER_BY_DIR = {
    "e2e": "e2e",  # full soen-train runs checked against accuracy targets and run outputs
    "sweeps_e2e": "e2e",  # real multiruns through the CLI (Optuna, launchers)
    "bad_inputs": "e2e",  # ~100 `soen-train` processes, each refusing one bad input
    "services": "services",  # SLURM, PostgreSQL, an MLflow server (`make services`)
    "hardening": "slow",  # faults, fuzzing and reproducibility over real trainings
    "faults": "slow",  # kills and resumes of real trainings
}
SLOW_FILES = {
    "catalog/test_catalog_declarations.py",  # each test imports a backend in a subprocess, 2 s
    "config/test_cli_help.py",
    "config/test_conf_local_overlay.py",  # `soen-train` processes, 2.5 s each
    "config/test_wheel_install.py",  # pip install . into a fresh venv, 10 s
    "data/test_data_lightning.py",
    "data/test_mnist_download.py",  # 0.5 s a test (a real HTTP mirror)
    "jax/test_jax_catalogs.py",  # 13.5 s for 43 tests
    "jax/test_jax_checkpoint.py",
    "jax/test_jax_layer_equations.py",  # 7.2 s for 14 tests
    "jax/test_jax_original_parity.py",  # 20.3 s for 47 tests
    "jax/test_jax_parity.py",  # 40.2 s for 15 tests
    "jax/test_jax_training.py",
    "original_configs/test_coming_from_doc.py",
    "original_configs/test_from_file_guide_config.py",  # 35 s for 5 tests
    "original_configs/test_original_jax_pickles.py",
    "original_configs/test_resume_original_pickle.py",  # real trainings resumed, 20 s each
    "sweeps/test_sweep_end_to_end.py",
    "sweeps/test_sweep_hparams_search.py",
    "sweeps/test_sweep_job_env.py",
    "sweeps/test_sweep_pruning_callback.py",
    "sweeps/test_sweep_trial_context.py",
    "sweeps/test_sweep_worker_pool.py",  # real worker processes, 5-8 s a test  # 7.2 s for 7 tests
    "tracking/test_reading_runs_doc.py",
    "training/catalog/test_catalog_training_callbacks.py",
    "training/test_alternate_losses.py",
    "training/test_fast_loop_same_numbers.py",  # a real tiny training
    "training/test_fast_loop.py",  # real tiny trainings, both loops
    "training/test_training_memory_flat.py",  # six epochs measured, 20 s
    "training/test_losses_train_through_cli_runner.py",
    "training/test_paradigms_and_profiler.py",
    "training/test_tbptt.py",
}
SLOW_TESTS = {
    "original_configs/test_original_pickle_layers.py::test_recurrent_layers_and_dynamic_edges_migrate_and_run_in_jax",  # 1.7 s
    "config/test_schema.py::test_cfg_job_does_not_import_torch",  # 2.2 s
    "config/test_schema.py::test_group_options_land_in_their_sections",  # 0.6 s
    "config/test_schema.py::test_lr_shortcut_flows_into_optimizer",  # 0.7 s
    "data/test_data_fuzz.py::test_damaged_bytes_load_or_raise_data_error",  # 1.8 s
    "model/test_original_layers.py::test_gradients_reach_every_learnable_tensor",  # 20 x up to 1.8 s
    "original_configs/test_translation_vocabulary.py::test_the_originals_defaults_are_written",  # 0.8 s
    "sweeps/test_sweep_study.py::test_resume_settles_only_stale_trials_and_keeps_finished_results",  # 4.3 s
    "tracking/test_sweep_summary.py::test_console_script_with_metric_and_out",  # 3.2 s
    "tracking/test_sweep_summary.py::test_seed_like_overrides_pool_regardless_of_order",  # 0.5 s
    "training/callbacks/test_callbacks_quantization.py::test_quantized_accuracy_equals_hand_computation",  # 0.5 s
    "training/callbacks/test_callbacks_quantization.py::test_stochastic_rounding_picks_neighbours_without_bias",  # 0.7 s
    "training/callbacks/test_callbacks_schedulers.py::test_pooling_scale_at_epoch_k",  # 0.7 s
    "training/callbacks/test_callbacks_schedulers.py::test_pooling_scale_is_restored_from_a_checkpoint",  # 0.8 s
    "training/callbacks/test_callbacks_schedulers.py::test_seq_len_applies_in_the_same_epoch_for_train_and_val",  # 0.6 s
    "training/callbacks/test_callbacks_stateful_training.py::test_store_is_cleared_at_each_epoch_start",  # 0.7 s
}


def tier_of(relative: Path, test_name: str) -> str | None:
    """The marker of test ``test_name`` in file ``relative`` (to tests/); None: the unit tier."""
    if relative.parts and relative.parts[0] in TIER_BY_DIR:
        return TIER_BY_DIR[relative.parts[0]]
    path = relative.as_posix()
    if path in SLOW_FILES or f"{path}::{test_name}" in SLOW_TESTS:
        return "slow"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a second or more a test; not in make test-fast")
    config.addinivalue_line("markers", "e2e: whole soen-train runs and multiruns; not in make test-fast")
    config.addinivalue_line("markers", "services: needs `make services` (SLURM, PostgreSQL, MLflow)")


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            relative = Path(str(item.fspath)).resolve().relative_to(tests_dir)
        except ValueError:
            continue
        tier = tier_of(relative, getattr(item, "originalname", item.name))
        if tier is not None:
            item.add_marker(tier)
