"""The typed configuration of one soen-train job: one dataclass per section of the user guide.

These dataclasses are registered in Hydra's ConfigStore (see ``store.py``), so every override is
type-checked and an unknown key is an error. They import nothing heavier than OmegaConf, so
``soen-train --cfg job`` stays fast. The trainer receives instances of these classes.

Free-form catalog parameters (loss ``params``, pooling ``params``, LR scheduler settings) are
plain dicts here; each is checked against its registered function's signature before training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import II, MISSING  # noqa: F401  (MISSING re-exported for config authors)


@dataclass
class OptimizerConfig:
    """Optimiser choice; ``lr`` follows ``training.lr`` unless set itself."""

    #: Optimiser: adamw, adam, sgd, rmsprop or lion.
    name: str = "adamw"
    #: Learning rate; follows `training.lr` unless set here.
    lr: float = II("training.lr")
    #: Extra optimiser arguments (e.g. weight_decay, betas, momentum); unknown ones are errors.
    kwargs: Dict[str, Any] = field(default_factory=dict)
    #: Per-parameter options: entries `{match: substring | match_regex: pattern, lr: ..., ...}`; first match wins.
    param_groups: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class LossItem:
    """One weighted term of the total loss: ``weight * loss(name, **params)``."""

    #: Registered loss name (see docs/catalog.md).
    name: str = "cross_entropy"
    #: Multiplier of this term in the total loss.
    weight: float = 1.0
    #: Keyword arguments of the loss, checked against its signature.
    params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LossConfig:
    """The list of weighted loss terms, summed in order."""

    #: Weighted loss terms; the total is the sum of weight * loss.
    losses: List[LossItem] = field(default_factory=lambda: [LossItem()])


@dataclass
class DistillationConfig:
    """Teacher model whose output trajectories become the student's seq2seq targets."""

    #: The teacher .soen model (required for paradigm=distillation).
    teacher_model_path: Optional[str] = None
    #: Where the teacher trajectories are cached (null = distillation_data.h5 in the run's logs folder).
    distillation_data_path: Optional[str] = None
    #: Keep only the first N samples of each split (null = all).
    max_samples: Optional[int] = None
    #: Batch size of the teacher's inference pass.
    batch_size: int = 64


@dataclass
class TrainingConfig:
    """Optimisation and the training loop (guide section `training`)."""

    #: supervised, self_supervised (target = input) or distillation.
    paradigm: str = "supervised"
    #: seq2static (pooled output, one label per sequence) or seq2seq (one label per step).
    mapping: str = "seq2static"
    #: Simulation backend: torch.
    backend: str = "torch"
    #: Upper bound on epochs (early stopping may end sooner).
    max_epochs: int = 100
    #: Samples per optimiser step.
    batch_size: int = 32
    #: Independent runs with seeds seed, seed+1, ...; each has its own logs and checkpoints.
    num_repeats: int = 1
    #: Learning-rate shortcut: the optimiser's lr and the schedulers' peak follow it.
    lr: float = 1e-3
    #: Optimiser section (config group `optimizer`).
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    #: Loss section (config group `loss`).
    loss: LossConfig = field(default_factory=LossConfig)
    #: Lightning accelerator: auto, cpu, gpu, cuda, mps or tpu.
    accelerator: str = "auto"
    #: Lightning devices: auto, a count or a list of ids.
    devices: Any = "auto"
    #: Number of machines for distributed training.
    num_nodes: int = 1
    #: Lightning strategy: auto, ddp, ddp_spawn, ...
    strategy: str = "auto"
    #: Lightning precision: 32-true, 16-mixed, bf16-mixed, 64-true, ...
    precision: str = "32-true"
    #: Use deterministic algorithms (bit-reproducible runs and resumes).
    deterministic: bool = False
    #: DataLoader worker processes (0 = load in the main process).
    num_workers: int = 0
    #: Batches whose gradients add up before one optimiser step.
    accumulate_grad_batches: int = 1
    #: Clip gradients at this value (null = no clipping).
    gradient_clip_val: Optional[float] = None
    #: norm or value.
    gradient_clip_algorithm: str = "norm"
    #: Run each training epoch in soen-train's own batch loop (a third less fixed cost per step
    #: than Lightning's) when nothing in the run needs Lightning's per-batch hooks; false:
    #: always Lightning's loop. Same numbers either way (docs/callbacks.md, "The training loop").
    fast_loop: bool = True
    #: Stop after this many epochs without a better val_loss (null = never).
    early_stopping_patience: Optional[int] = None
    #: Keep the k best checkpoints by val_loss (-1 = all, 0 = none).
    checkpoint_save_top_k: int = 1
    #: Keep last.ckpt, the latest state (for resuming).
    checkpoint_save_last: bool = True
    #: Keep a checkpoint of every (n-th) epoch instead of the top k.
    checkpoint_save_all_epochs: bool = False
    #: Epochs between checkpoints.
    checkpoint_every_n_epochs: int = 1
    #: Write initial.ckpt before the first optimiser step.
    save_initial_state: bool = False
    #: Write a .soen twin beside every .ckpt (best.soen is always written).
    save_soen_core_in_checkpoint: bool = False
    #: Resume from this .ckpt: model, optimiser, schedules and epoch.
    train_from_checkpoint: Optional[str] = None
    #: Weights evaluated on the test split: best (by val_loss) or last.
    test_checkpoint: str = "best"
    #: Metric returned to Hydra/Optuna as the job's objective (best over epochs, mean over repeats).
    objective_metric: str = "val_loss"
    #: minimize, maximize, or auto (minimise losses, maximise the rest).
    objective_direction: str = "auto"
    #: Further metrics returned after objective_metric, for multi-objective searches.
    extra_objective_metrics: List[str] = field(default_factory=list)
    #: Direction of each extra metric (empty = auto for all).
    extra_objective_directions: List[str] = field(default_factory=list)
    #: Train on this many batches per epoch (an integer count, 1 = one batch) or this fraction (a float <= 1.0).
    limit_train_batches: Optional[Any] = None
    #: Validate on this many batches (an integer count) or this fraction (a float <= 1.0).
    limit_val_batches: Optional[Any] = None
    #: Overfit a few batches: train and validate on this many batches (integer) or fraction, unshuffled.
    overfit_batches: Optional[Any] = None
    #: Train with one loss term at a time, cycling through the terms.
    alternate_losses: bool = False
    #: Batches spent on each term when alternating.
    batches_per_loss: int = 1
    #: Truncated backpropagation through time over chunks of the sequence.
    use_tbptt: bool = False
    #: TBPTT chunk length in time steps.
    tbptt_steps: Optional[int] = None
    #: Steps between chunk starts (null = tbptt_steps).
    tbptt_stride: Optional[int] = None
    #: Teacher settings for paradigm=distillation.
    distillation: DistillationConfig = field(default_factory=DistillationConfig)


@dataclass
class DataConfig:
    """Where the data lives and how it is prepared (guide section `data`)."""

    #: HDF5 file (train/val/test groups, or flat data/labels); built-in datasets are written here.
    data_path: Optional[str] = None
    #: Built-in dataset maker (pulses, digits, mnist) that writes data_path when missing.
    dataset: Optional[str] = None
    #: Arguments of the dataset maker (sizes, seed, source_dir for mnist, ...).
    dataset_params: Dict[str, Any] = field(default_factory=dict)
    #: Load each split into memory once (recommended when it fits).
    cache_data: bool = True
    #: Resample every sequence to this many steps (null = keep).
    target_seq_len: Optional[int] = None
    #: Lower end of the input scaling range (set with max_scale; stats from the train split).
    min_scale: Optional[float] = None
    #: Upper end of the input scaling range.
    max_scale: Optional[float] = None
    #: raw, or one_hot for integer token inputs.
    input_encoding: str = "raw"
    #: Token count for one_hot inputs.
    vocab_size: Optional[int] = None
    #: Number of classes (null = max label + 1); a conflict with the labels is an error.
    num_classes: Optional[int] = None
    #: Validation fraction of a flat (unsplit) file.
    val_split: float = 0.2
    #: Test fraction of a flat file.
    test_split: float = 0.1
    #: Seed of the flat-file split.
    split_seed: int = 42


@dataclass
class TimePoolingConfig:
    """How the output history is reduced over time for seq2static tasks."""

    #: max, mean, rms, final, mean_last_n, mean_range or ewa.
    name: str = "max"
    #: Method parameters (n, range_start, range_end, min_weight) and `scale`.
    params: Dict[str, Any] = field(default_factory=lambda: {"scale": 1.0})


@dataclass
class ModelConfig:
    """Which SOEN model to train (guide section `model`)."""

    #: A .soen model (or architecture .yaml) to start from.
    base_model_path: Optional[str] = None
    #: With base_model_path: keep its weights (true) or re-initialise from the run's seed (false).
    load_exact_model_state: bool = False
    #: An architecture YAML in the SOEN toolkit format.
    architecture_yaml: Optional[str] = None
    #: An inline architecture (config group `arch`).
    architecture: Optional[Dict[str, Any]] = None
    #: Time pooling section (config group `time_pooling`).
    time_pooling: TimePoolingConfig = field(default_factory=TimePoolingConfig)
    #: Override the simulation time step (dimensionless, units of 1/omega_c).
    dt: Optional[float] = None
    #: Train dt as a parameter.
    dt_learnable: bool = False


@dataclass
class StateTrajectoriesConfig:
    """Plots of state trajectories logged as images."""

    #: Log plots of state trajectories as TensorBoard images.
    active: bool = False
    #: Samples from the val or train split.
    mode: str = "val"
    #: Layer to plot (null = output layer).
    layer_id: Optional[int] = None
    #: Samples plotted per epoch.
    num_samples: int = 4
    #: Traces per plot.
    max_neurons_per_sample: int = 4
    #: TensorBoard tag prefix of the images.
    tag_prefix: str = "callbacks/state_trajectories"


@dataclass
class LoggingConfig:
    """Run naming, directories, TensorBoard and MLflow (guide section `logging`)."""

    #: Folder project_<name> under project_dir.
    project_name: str = "soen_training"
    #: Folder experiment_<name> (null = default_experiment); also the MLflow experiment.
    experiment_name: Optional[str] = None
    #: Folder group_<name>.
    group_name: str = "default_group"
    #: Root of all run folders (relative to the working directory).
    project_dir: str = "experiments"
    #: Level of soen_train's log messages.
    log_level: str = "INFO"
    #: Log step metrics every N optimiser steps.
    log_freq: int = 50
    #: Epoch metrics: accuracy, perplexity, bits_per_character.
    metrics: List[str] = field(default_factory=lambda: ["accuracy"])
    #: Write TensorBoard event files to logs/repeat_<k>.
    tensorboard_active: bool = True
    #: Log connection-weight histograms and stats every validation.
    track_connections: bool = False
    #: Log layer-parameter histograms.
    track_layer_params: bool = False
    #: Log gradient norms.
    log_gradients: bool = False
    #: State-trajectory plots.
    state_trajectories: StateTrajectoriesConfig = field(default_factory=StateTrajectoriesConfig)
    #: Record runs in MLflow.
    mlflow_active: bool = False
    #: MLflow store or server (null = MLFLOW_TRACKING_URI or sqlite project_<name>/mlflow.db).
    mlflow_tracking_uri: Optional[str] = None
    #: MLflow experiment (null = experiment_name or project_name).
    mlflow_experiment_name: Optional[str] = None
    #: MLflow run name (null = repeat_<k>).
    mlflow_run_name: Optional[str] = None
    #: Extra tags on every MLflow run.
    mlflow_tags: Dict[str, str] = field(default_factory=dict)
    #: Upload best.soen to the MLflow run.
    mlflow_log_artifacts: bool = True
    #: Server user name (or MLFLOW_TRACKING_USERNAME).
    mlflow_username: Optional[str] = None
    #: Server password; better MLFLOW_TRACKING_PASSWORD. Never logged or saved.
    mlflow_password: Optional[str] = None
    #: Show Lightning's progress bar.
    progress_bar: bool = True
    #: Config printed at the start of a job: short (the chosen groups and the keys changed on
    #: the command line), full (the whole composed tree) or none.
    print_config: str = "short"


@dataclass
class ProfilerConfig:
    """Lightning profiler over the first batches (guide section `profiler`)."""

    #: Profile the run with a Lightning profiler.
    active: bool = False
    #: simple, advanced or pytorch.
    type: str = "simple"
    #: Profile (and train on) only the first N training batches.
    num_train_batches: Optional[int] = None
    #: Validate on only the first N batches.
    num_val_batches: Optional[int] = None
    #: pytorch profiler: record tensor shapes.
    record_shapes: bool = False
    #: pytorch profiler: track memory.
    profile_memory: bool = False
    #: pytorch profiler: record stacks.
    with_stack: bool = False
    #: Profile report name in logs/repeat_<k> (null = <type>_profile).
    output_filename: Optional[str] = None


@dataclass
class NoiseAnnealerConfig:
    """Linearly anneal a noise or perturbation std on the model's layers."""

    #: Noise key: phi, g, s, bias_current, j, or another layer parameter.
    key: str = MISSING
    #: noise (fresh each step) or perturb (fixed per forward).
    target: str = "noise"
    #: Std at start_epoch.
    start_value: float = 0.0
    #: Std at end_epoch.
    end_value: float = 0.0
    #: Epoch the ramp starts.
    start_epoch: int = 0
    #: Epoch the ramp ends (null = last epoch).
    end_epoch: Optional[int] = None
    #: Update every step (true) or every epoch.
    per_step: bool = True
    #: Layers affected (null = all that have the key).
    layer_ids: Optional[List[int]] = None


@dataclass
class LossWeightSchedulerConfig:
    """Change one loss term's weight over training."""

    #: A loss name from training.loss.losses.
    loss_name: str = MISSING
    #: linear, exponential_decay, cosine_decay or sinusoidal.
    scheduler_type: str = "linear"
    #: Schedule parameters (min_weight, max_weight, initial_weight, ...).
    params: Dict[str, Any] = field(default_factory=dict)
    #: Epoch the schedule starts.
    start_epoch: int = 0
    #: Epoch it ends (null = last epoch).
    end_epoch: Optional[int] = None
    #: Update every step (true) or every epoch.
    per_step: bool = True


@dataclass
class SeqLenSchedulerConfig:
    """Grow or shrink the data's target sequence length over epochs."""

    #: Change data.target_seq_len over training.
    active: bool = False
    #: Length at start_epoch (null = data.target_seq_len).
    start_len: Optional[int] = None
    #: Length at end_epoch.
    end_len: Optional[int] = None
    #: Epoch the ramp starts.
    start_epoch: int = 0
    #: Epoch it ends (null = last epoch).
    end_epoch: Optional[int] = None
    #: Scale dt so the simulated duration stays constant.
    scale_dt: bool = False


@dataclass
class TimePoolingScaleSchedulerConfig:
    """Change the time-pooling scale linearly over epochs."""

    #: Change the pooling scale over training.
    active: bool = False
    #: Scale at start_epoch.
    start_scale: float = 1.0
    #: Scale at end_epoch.
    end_scale: float = 1.0
    #: Epoch the ramp starts.
    start_epoch: int = 0
    #: Epoch it ends (null = last epoch).
    end_epoch: Optional[int] = None


@dataclass
class ConnectionNoiseConfig:
    """Fixed-per-forward Gaussian noise on named connections during training."""

    #: Connection names (<from>_to_<to>) that get noise.
    connections: List[str] = field(default_factory=list)
    #: Gaussian std (absolute, or relative to mean |J|).
    std: float = 0.0
    #: Interpret std relative to the mean absolute weight.
    relative: bool = False


@dataclass
class StatefulTrainingConfig:
    """Carry the final states of one sample into the next batch."""

    #: Carry final states into the next training batch.
    enable_for_training: bool = False
    #: Same for validation batches.
    enable_for_validation: bool = False
    #: Which sample's states are carried: random, first or last.
    sample_selection: str = "random"


@dataclass
class QuantizationConfig:
    """A uniform weight codebook: ``bits`` (2**bits + 1 levels incl. 0) or ``levels``."""

    #: Switch the feature on.
    active: bool = False
    #: Codebook of 2**bits + 1 levels including 0.
    bits: Optional[int] = None
    #: Explicit number of levels (instead of bits).
    levels: Optional[int] = None
    #: Lowest codebook level.
    min_val: float = -0.24
    #: Highest codebook level.
    max_val: float = 0.24
    #: Connections affected (null = all learnable).
    connections: Optional[List[str]] = None


@dataclass
class CallbackMetricsConfig:
    """Extra evaluation callbacks."""

    #: Accuracy with weights snapped to a codebook, every validation.
    quantized_accuracy: QuantizationConfig = field(default_factory=QuantizationConfig)


@dataclass
class CallbacksConfig:
    """Dynamic training behaviour (guide section `callbacks`)."""

    #: Learning-rate schedule (config group `lr_scheduler`): type plus its parameters.
    lr_scheduler: Dict[str, Any] = field(default_factory=lambda: {"type": "constant"})
    #: Noise/perturbation annealing entries.
    noise_annealers: List[NoiseAnnealerConfig] = field(default_factory=list)
    #: Loss-weight schedule entries.
    loss_weight_schedulers: List[LossWeightSchedulerConfig] = field(default_factory=list)
    #: Sequence-length schedule.
    seq_len_scheduler: SeqLenSchedulerConfig = field(default_factory=SeqLenSchedulerConfig)
    #: Pooling-scale schedule.
    time_pooling_scale_scheduler: TimePoolingScaleSchedulerConfig = field(
        default_factory=TimePoolingScaleSchedulerConfig
    )
    #: Noise on connection weights.
    connection_noise: ConnectionNoiseConfig = field(default_factory=ConnectionNoiseConfig)
    #: State carry-over between batches.
    stateful_training: StatefulTrainingConfig = field(default_factory=StatefulTrainingConfig)
    #: Quantisation-aware training with a straight-through estimator.
    qat: QuantizationConfig = field(default_factory=QuantizationConfig)
    #: Extra evaluation callbacks.
    metrics: CallbackMetricsConfig = field(default_factory=CallbackMetricsConfig)


@dataclass
class SOENTrainConfig:
    """The whole job: the guide's six sections plus the base seed and a description."""

    #: Base seed; repeat k uses seed + k for data shuffling and model init.
    seed: int = 42
    #: Free text kept with the run.
    description: str = ""
    #: Optimisation and the training loop.
    training: TrainingConfig = field(default_factory=TrainingConfig)
    #: Dataset and preparation.
    data: DataConfig = field(default_factory=DataConfig)
    #: The SOEN model.
    model: ModelConfig = field(default_factory=ModelConfig)
    #: Run folders, TensorBoard, MLflow.
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    #: Profiling.
    profiler: ProfilerConfig = field(default_factory=ProfilerConfig)
    #: Schedules and dynamic behaviour.
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
