"""The guide's pytorch profiler block: with_stack beside profile_memory/record_shapes crashes
torch's profiler intermittently, so it is refused in one line; without with_stack the block
trains and writes its report and traces; fewer batches than the profiler's cycle is refused."""

from __future__ import annotations

from conftest import all_files, tiny

GUIDE_BLOCK = [
    "profiler.active=true", "profiler.type=pytorch", "profiler.record_shapes=true",
    "profiler.profile_memory=true", "profiler.with_stack=true", "profiler.output_filename=profile_results",
]


def test_guide_profiler_block_with_memory_and_stacks_is_refused(cli_here):
    res = cli_here(*tiny("hydra.run.dir=job", "profiler.num_train_batches=5", *GUIDE_BLOCK))
    assert res.code == 2 and res.err.startswith("Error: profiler.with_stack=true"), res.err
    assert list(all_files(cli_here.root)) == []


def test_guide_profiler_block_without_stacks_runs(cli_here):
    block = [a for a in GUIDE_BLOCK if not a.startswith("profiler.with_stack")]
    res = cli_here(*tiny("training.max_epochs=1", "training.batch_size=8", "logger=tensorboard",
                         "hydra.run.dir=job", "profiler.num_train_batches=5", "profiler.num_val_batches=2",
                         *block))
    assert res.code == 0, res.text[-3000:]
    names = [p.name for p in all_files(cli_here.root)]
    assert any(n.endswith(".pt.trace.json") for n in names), names
    assert any("profile_results" in n and n.endswith(".txt") for n in names), names


def test_too_few_profiled_batches_with_stacks_is_refused(cli_here):
    block = ["profiler.active=true", "profiler.type=pytorch", "profiler.with_stack=true"]
    res = cli_here(*tiny("hydra.run.dir=job", "profiler.num_train_batches=3", *block))
    assert res.code == 2 and res.err.startswith("Error: profiler.with_stack=true"), res.err
    assert list(all_files(cli_here.root)) == []
