"""The hand-written text of docs/catalog.md around the tables that `catalog_doc` generates.

Edit the prose here; the tables come from the declarations in ``soen_train.catalog`` and from
the schedule registries.
"""

# flake8: noqa: E501

HEADER = """\
# Catalog: losses, time pooling, metrics, optimizers, schedules, source functions, layer types

Every entry below is selected by name from the config and validated before the first batch:
an unknown name, an unknown parameter or an out-of-range value stops the run with a message
that names the config key, the value and what would be valid (with a "did you mean" hint).
All states, fluxes and weights are dimensionless SOEN quantities.

Generated from the declarations in `soen_train/catalog/` (one module per catalog: `losses.py`,
`time_pooling.py`, `metrics.py`, `optimizers.py`, `source_functions.py`, `layers.py`) and the
schedule registries by `python -m soen_train.config.catalog_doc > docs/catalog.md`; do not edit
by hand (a test compares). The torch code is in `soen_train/training/` (`time_pooling.py`,
`losses/`, `metrics.py`, `optimizers.py`, `lr_schedules/`, `loss_weight_schedules.py`) and
`soen_train/model/`; the JAX code in `soen_train/jax/`. Both register against the same
declarations, so a param name or default that differs, or an entry one backend lacks without
a declared reason, fails when that backend is imported. The JAX column says why an entry is
not available there.
"""

POOLING_INTRO = """\
## Time pooling (`model.time_pooling`)

Used with `training.mapping: seq2static`: the output layer's history without its initial
step 0, `h` of shape [B, T, D], becomes one value per node [B, D], then is multiplied by
`scale`. Every method accepts `scale` (default 1.0; must be a non-zero number).
"""

POOLING_AFTER = """\

```yaml
model:
  time_pooling: {name: ewa, params: {min_weight: 0.1, scale: 2.0}}
```
"""

LOSSES_INTRO = """\
## Losses (`training.loss.losses`)

The total loss is `sum_i weight_i * loss_i`. Each entry is `{name, weight: 1.0, params: {}}`.
The same loss may appear twice; its terms are logged as `<name>`, `<name>_2`, ... . Each
unweighted term is logged under `train_loss/<term>` (and `val_`, `test_`).

```yaml
training:
  loss:
    losses:
      - {name: cross_entropy}
      - {name: reg_J_loss, weight: 1.0, params: {threshold: 0.24, factor: 0.01}}
```

Notation: z = pooled, scaled outputs [B, C] (seq2static); y = labels; s = states.
"Output states" below means the pooled outputs when the mapping is seq2static, else the
output history [B, T, C].
"""

CODEBOOK_RULES = """\

Codebook rules (`uniform_codebook(min_val, max_val, bits=None, levels=None)`, shared with
QAT and quantised-accuracy evaluation): L = `levels`, or 2^bits + 1 (bits count the non-zero
levels). The codebook always holds exactly one 0. If the range contains 0, the L − 1 non-zero
levels are split floor/ceil between the negative and positive sides (all on one side when a
bound is 0) and each side is evenly spaced up to its bound; if it does not, L − 1 levels span
[min_val, max_val] and 0 is added. Example: bits 2 on ±0.24 → [−0.24, −0.12, 0, 0.12, 0.24].
With no codebook settings at all the default is −1 to 1 in steps of 0.25. A partial setting
(e.g. `bits` without `min_val`/`max_val`) is an error.
"""

LOSS_CONTRACT = """\
### For developers: the loss contract

A loss is declared once in `soen_train/catalog/losses.py` (`entry(name, *aliases, params={...},
needs={...}, check=fn, no_jax="reason")`) and implemented as `fn(ctx, **params) -> scalar` in
each backend, registered with `@LOSS_CATALOG.torch(name)` / `@LOSS_CATALOG.jax(name)`; the
signature's params and defaults must equal the declaration. `LossContext` carries `outputs`,
`targets`, `pooled`, `pooling_scale`, `model`, `inputs`, `sim` (SimulationResult) and
`forward` (x → SimulationResult). `needs` tells the trainer what to prepare: `targets`,
`pooled`, `model`, `sim` (all layer histories), `track_g`, `forward`. `WeightedLoss(items)`
validates the list (`soen_train.catalog.loss_terms.LossTerms`, shared with the JAX backend),
returns `(total, {term: value})`, and offers `set_weight(name, w)`, `weights`, `term_names`,
`needs` and `__call__(ctx, only=term)` for alternating losses.
"""

METRICS_INTRO = """\
## Metrics (`logging.metrics`)

Computed once per epoch on the concatenated outputs and targets (exact epoch values), logged
as `val_<name>` / `test_<name>`.
"""

OPTIMIZERS_INTRO = """\
## Optimizers (`training.optimizer`)

`name` ∈ `adamw`, `adam`, `sgd`, `rmsprop`, `lion`; `lr` (follows `training.lr`); `kwargs` are
the optimizer's own options; their defaults are the optimizer's documented defaults and
nothing is added behind your back (the original silently gave every optimizer, plain Adam
included, weight_decay 1e-4).
"""

OPTIMIZERS_AFTER = """\

`param_groups`: a list of `{match: substring | match_regex: pattern, <options>}` tested against
each trainable parameter's name as the Lightning module lists it, with a leading `model.`
removed; the first matching entry claims a parameter, unmatched ones form the default group. An entry that matches nothing is an error. Each group keeps its LR
ratio to the base LR when a schedule changes the LR.

```yaml
training:
  optimizer:
    name: adamw
    lr: 1.0e-3
    kwargs: {weight_decay: 0.0}
    param_groups:
      - {match: phi_offset, lr: 1.0e-2}
      - {match_regex: 'connections\\.0_to_\\d+', weight_decay: 1.0e-4}
```
"""

LR_INTRO = """\
## Learning-rate schedules (`callbacks.lr_scheduler`)

`type` plus the schedule's parameters. The LR is set on the optimiser before every optimiser
step from the global step (step 0 is the first batch; no one-batch lag) and logged as `lr`.
Epoch-valued parameters are converted to optimiser steps (batches per epoch divided by
gradient accumulation). The schedule describes the base LR; parameter groups keep their
ratio. The callback's state is stored in checkpoints, so a resumed run continues its curve.
N = max_epochs × steps per epoch; W = warm-up steps.
"""

LR_AFTER = """\

`greedy` and `adaptive` check `monitor_metric` against the metrics the trainer logs at
validation end (e.g. `val_loss`, `val_accuracy`, `val_loss/<term>`) before training starts,
and ignore the sanity-check validation.

```yaml
callbacks:
  lr_scheduler: {type: cosine, max_lr: 1.0e-3, min_lr: 1.0e-6, warmup_epochs: 5, cycle_epochs: 50}
```
"""

LOSS_WEIGHT_INTRO = """\
## Loss-weight schedules (`callbacks.loss_weight_schedulers`)

Each entry: `{loss_name, scheduler_type, params, start_epoch: 0, end_epoch: null (last epoch),
per_step: true}`. `loss_name` must be a configured loss term (`gap_loss`, `gap_loss_2`, or a
loss name/alias with one term); anything else is an error listing the configured terms. The
weight is written before every training batch (`per_step`) or at each epoch start, and
logged as `callbacks/loss_weight_<term>`.

Progress p (shared with the other annealing callbacks): per step, s0 = start_epoch · spe and
s1 = end_epoch · spe + spe − 1 (spe = optimiser steps per epoch); per epoch, s0 = start_epoch
and s1 = end_epoch. p = 0 up to s0, 1 from s1 on, (position − s0) / max(1, s1 − s0) between.
"""

LOSS_WEIGHT_AFTER = """\
```yaml
callbacks:
  loss_weight_schedulers:
    - {loss_name: reg_J_loss, scheduler_type: linear, params: {min_weight: 0.01, max_weight: 0.1}}
```
"""

#: Loss-weight schedules: what each computes and notes on its params (params come from the registry).
LOSS_WEIGHT_SUMMARIES = {
    "linear": (
        "min_weight + p (max_weight − min_weight)",
        "",
    ),
    "exponential_decay": (
        "initial_weight · exp(−r p), r = decay_rate or −ln(final_weight / initial_weight)",
        "give exactly one of `decay_rate`, `final_weight` (> 0)",
    ),
    "cosine_decay": (
        "final + (initial − final)(1 + cos πp) / 2",
        "",
    ),
    "sinusoidal": (
        "oscillates between max_weight (at p = 0) and min_weight: with e = steps (or epochs) since the window opened and base period P0, cycle k lasts P0 · period_decay^k; c = cycles elapsed; damping d = exp(−amplitude_decay · c); linear: (max + min)/2 + d (max − min)/2 cos 2πc; log: exp(ln min + d (1 + cos 2πc)/2 (ln max − ln min))",
        "`min_weight` > 0 for `scale: log`; give `period_steps` or `period_epochs` (both null: the whole window)",
    ),
}

FOOTER = """\
## Where we differ from the original toolkit

- `reg_J_loss` is found by its own name (the original lower-cased names and skipped it).
- Unknown loss names, parameters, schedule types, monitored metrics and loss-weight targets
  are errors, not warnings or silent no-ops.
- `branching_loss` honours `target_sigma` in the log domain (the original ignored it).
- `ensure_post_sample_decay` is a mean over batch and nodes (the original summed, so its scale
  grew with the batch size); its `zero_input_steps` continues the simulation from the final
  states with zero input.
- `local_expansion_loss` runs the second pass through the trainer's forward callable without
  changing the model's train/eval mode (its per-layer norms and default layers, input
  included, follow the original).
- `autoregressive_cross_entropy` drops the output's extra first position (t = 0) itself and
  scores step t against token t+1; the original's multi-step-per-token AR mode has no
  counterpart (its targets and pooled outputs had different lengths and it failed).
- `rich_margin_loss` sums its gap term over the wrong classes only and averages diversity over
  distinct class pairs.
- A partial codebook setting is an error (the original fell back to the default codebook).
- No optimizer gets a hidden weight decay.
- LR schedules are functions of the optimiser step with no one-batch lag, saved in
  checkpoints (resumed runs continue the curve); `rex` without `max_lr` uses the optimiser's LR
  (the original raised KeyError); `greedy` and `adaptive` read the canonical `val_loss` tag
  (the original's greedy never fired).
- Per-parameter-group LR ratios are kept relative to the base LR.
- Sinusoidal loss-weight periods are exact in steps/epochs (the original stretched them by
  span / (span + 1)).

### The original's bugs we do not reproduce

One line each; the original toolkit's behaviour first, ours after the arrow.

- `s3://` data/model paths in local runs were never caught → a data or model path that is not an existing file is an error naming the key.
- `backend` under `training:` (as its guide shows) raised TypeError → `training.backend` is the key (`model.backend` is an alias).
- The model-output vs `num_classes` check never ran → the model's input and output widths are checked against the data before training.
- `log_gradients` wrote nothing unless `log_batch_metrics` was on → `logging.log_gradients` works alone.
- `s3_mirror_delete` / `s3_sync_interval_seconds` were read but could not be set → no S3 keys (refused by `--from-file`).
- Flat HDF5 files truncated float regression labels to integers → float labels are regression targets.
- Cached and lazy loading resampled seq2seq labels differently → one preprocessing path for both.
- Val and test were min/max-scaled with their own statistics → the train split's statistics scale every split.
- `num_classes` was the count of distinct labels and overrode the user → max label + 1, and a conflict is an error.
- A distillation run crashed in its final test (teacher targets one step longer) → one output/target alignment for train, val and test.
- Multi-timestep autoregressive targets did not match the pooled outputs → no such mode (see `autoregressive_cross_entropy` above).
- TBPTT ran independent chunks from zero state with one backward → real TBPTT: state carried (detached) between chunks, one optimiser step per chunk.
- Train epoch metrics used misspelled hooks (never logged, predictions kept forever) → `train_loss` (and each term) logged every epoch, nothing accumulated.
- LR schedules were not saved in checkpoints → a resumed run continues the curve.
- `rex` without `max_lr` raised KeyError → it peaks at the optimiser's LR.
- `greedy` watched an unlogged metric and its intra-epoch rule crashed → it reads `val_loss` once per validation (`intra_epoch` is refused).
- `percent_of_param` noise annealing wrote nothing → refused by `--from-file`; give absolute stds.
- The connection-noise `seed` was never used → no such key (`--from-file` drops it with a warning).
- Top-k checkpoint names with `/` made sub-directories and lost their `.soen` → `epoch=NN-val_loss=X.ckpt` files, `best.soen` always.
- `reg_J_loss` was lower-cased and skipped → found by its name.
- Distillation passed `auto`/`gpu` straight to `.to()` → the device is checked and named in the error.

## One command per entry

Each line runs as is (add `debug=fast` for a quick check). Quote list overrides for the shell.

Losses (`tests/training/test_losses_train_through_cli_runner.py` trains each of these):

    soen-train experiment=pulses loss=cross_entropy
    soen-train experiment=pulses loss=ce_reg_j                      # cross_entropy + reg_J_loss
    soen-train experiment=pulses loss=ce_top_gap                    # cross_entropy + top_gap_loss
    soen-train experiment=pulses 'training.loss.losses=[{name: gap_loss, params: {margin: 1.0}}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: rich_margin_loss}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: gravity_quantization_loss, weight: 0.1, params: {bits: 3, min_val: -0.24, max_val: 0.24}}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: get_off_the_ground_loss, weight: 0.1}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: exp_high_state_penalty, params: {threshold: 0.5}}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: branching_loss, weight: 0.01}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: local_expansion_loss, weight: 0.01, params: {perturbation_scale: 0.001}}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: average_state_magnitude_loss, weight: 0.1}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: ensure_post_sample_decay, weight: 0.01}]'
    soen-train experiment=pulses 'training.loss.losses=[{name: cross_entropy}, {name: final_timestep_zero_mse, weight: 0.01}]'
    soen-train data.data_path=regression.h5 model.architecture_yaml=arch.yaml loss=mse        # float labels
    soen-train data.data_path=tokens.h5 model.architecture_yaml=arch.yaml training.mapping=seq2seq \\
        data.input_encoding=one_hot data.vocab_size=32 'training.loss.losses=[{name: autoregressive_cross_entropy}]'

Time pooling:

    soen-train experiment=pulses time_pooling=max
    soen-train experiment=pulses time_pooling=mean
    soen-train experiment=pulses time_pooling=rms
    soen-train experiment=pulses time_pooling=final
    soen-train experiment=pulses time_pooling=mean_last_n model.time_pooling.params.n=8
    soen-train experiment=pulses time_pooling=mean_range model.time_pooling.params.range_start=16
    soen-train experiment=pulses time_pooling=ewa model.time_pooling.params.min_weight=0.1

Optimisers and LR schedules:

    soen-train experiment=pulses optimizer=adamw      # also adam, sgd, rmsprop, lion
    soen-train experiment=pulses lr_scheduler=constant
    soen-train experiment=pulses lr_scheduler=linear callbacks.lr_scheduler.log_space=true
    soen-train experiment=pulses lr_scheduler=cosine callbacks.lr_scheduler.warmup_epochs=1 callbacks.lr_scheduler.cycle_epochs=4
    soen-train experiment=pulses lr_scheduler=rex
    soen-train experiment=pulses lr_scheduler=greedy
    soen-train experiment=pulses lr_scheduler=adaptive callbacks.lr_scheduler.monitor_metric=val_accuracy

Loss-weight schedules:

    soen-train experiment=pulses loss=ce_reg_j 'callbacks.loss_weight_schedulers=[{loss_name: reg_J_loss, scheduler_type: linear, params: {min_weight: 0.0, max_weight: 1.0}}]'
"""

#: What each LR schedule computes (the ``LR at step n`` column); params come from the registry.
LR_SCHEDULE_SUMMARIES = {
    "constant": (
        "`lr`, or the optimiser's LR when not given"
    ),
    "linear": (
        "p = min(1, n / N); max_lr − p (max_lr − min_lr), or exp(ln max_lr − p (ln max_lr − ln min_lr)) with `log_space` (then min_lr > 0)"
    ),
    "cosine": (
        "warm-up min_lr + (max_lr − min_lr) n / W; then cycle k (length cycle_epochs · period_decay^k epochs, at least one step) with progress p: min_lr + A_k (1 + cos πp) / 2, A_k = max(0, (max_lr · restart_decay^k − min_lr) · amplitude_decay^k); `soft_restart`: (1 + cos 2πp) / 2 with the amplitude sliding from A_k to A_{k+1} when amplitude_decay < 1. Without restarts one cycle runs and the LR then stays at min_lr. `adjust_on_batch: false` changes the LR only at epoch starts; `batches_per_adjustment` holds it for blocks of steps. restart_decay and amplitude_decay lie in [0, 1], period_decay > 0; soft_restart needs restarts."
    ),
    "rex": (
        "η0 = max_lr or the optimiser's LR. Warm-up (n <= W): ws + (η0 − ws)(1 − cos(π n / W)) / 2; then z = clamp((n − W) / (N − W), 0, 1), min_lr + (η0 − min_lr)(1 − z) / (0.5 + 0.5 (1 − z))"
    ),
    "greedy": (
        "starts at max_lr (after an optional linear warm-up from warmup_start_lr). At each validation end: the monitored metric improved (relative `threshold`) → lr × factor_increase; `patience` evaluations without improvement → lr × factor_decrease; clamped to [min_lr, max_lr]"
    ),
    "adaptive": (
        "like greedy with separate patience: `patience_increase` consecutive improvements → × increase_factor, `patience_decrease` consecutive non-improvements → × decrease_factor; improvement means v < best (1 − threshold) (min mode) or v > best (1 + threshold) (max mode), or best ∓ threshold with `threshold_mode: abs`; after each change `cooldown` evaluations are skipped. `mode: auto` minimises metrics whose name contains \"loss\" or \"error\" and maximises the others."
    ),
}


#: Order of the rows of each table (every declared entry must appear: the generator checks).
POOLING_ORDER = ("max", "mean", "rms", "final", "mean_last_n", "mean_range", "ewa")

#: Loss tables: (heading, loss names).
LOSS_GROUPS = (
    ("Task losses", ("cross_entropy", "autoregressive_cross_entropy", "mse")),
    (
        "Margin losses (need seq2static pooled outputs and class labels)",
        ("top_gap_loss", "gap_loss", "rich_margin_loss"),
    ),
    (
        "Weight regularisers (act on the learnable connection weights J)",
        ("reg_J_loss", "gravity_quantization_loss"),
    ),
    ("Output-state regularisers", ("get_off_the_ground_loss", "exp_high_state_penalty")),
    (
        "State-history losses (the trainer simulates with all layer histories when one is "
        "configured)",
        ("average_state_magnitude_loss", "ensure_post_sample_decay", "final_timestep_zero_mse"),
    ),
    ("Criticality losses", ("branching_loss", "local_expansion_loss")),
)

#: The loss group followed by the codebook rules.
CODEBOOK_GROUP = LOSS_GROUPS[2][1]

METRIC_ORDER = ("accuracy", "perplexity", "bits_per_character")
OPTIMIZER_ORDER = ("adamw", "adam", "sgd", "rmsprop", "lion")
SOURCE_ORDER = (
    "RateArray", "Heaviside_fit_state_dep", "TanhGauss1p7IBFit", "Tanh", "ReLU", "SimpleGELU",
    "Telu",
)
LAYER_ORDER = (
    "Input", "SingleDendrite", "MultiplierWICC", "MultiplierNOCC", "DendriteReadout",
    "NonLinear", "ScalingLayer", "Softmax", "RNN", "GRU", "LSTM", "MinGRU", "LeakyGRU",
)


def all_listed(kind: str, names: tuple) -> tuple:
    """Every name placed in the doc for catalog ``kind`` (the loss groups together)."""
    if kind == "loss":
        return tuple(n for _, group in LOSS_GROUPS for n in group)
    return names


MODEL_INTRO = """\
## Source functions (`source_func` of a layer in the architecture YAML)

A source function maps a flux phi [Phi0] and, when it needs the current, the SQUID current
i = bias_current − s [Ic] to a dimensionless rate g. Names and aliases are the original
toolkit's; none takes params.
"""

LAYERS_INTRO = """\
## Layer types (`layers[].layer_type` in the architecture YAML)

params are per-node tensors with their defaults (override them per layer in the YAML; see
docs/models.md for bounds, learnability and the other layer options). `Soma` and `Synapse`
are placeholders in the original too and are refused by name.
"""
