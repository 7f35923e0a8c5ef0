"""Dynamic and monitoring Lightning callbacks of the training catalog.

Dynamic: noise annealing, connection noise, stateful training, sequence-length and
pooling-scale schedules, quantisation-aware training. Monitoring: quantised accuracy,
connection and layer-parameter histograms, gradient norms, state-trajectory images.
Each takes plain values; ``factory.build_dynamic_callbacks(cfg, module)`` builds the ones a
config switches on. See docs/callbacks.md for keys and logged tags.
"""

from soen_train.training.callbacks.connection_histograms import ConnectionHistogramCallback
from soen_train.training.callbacks.connection_noise import ConnectionNoiseCallback
from soen_train.training.callbacks.factory import build_dynamic_callbacks, trainer_settings
from soen_train.training.callbacks.gradient_norms import GradientNormCallback
from soen_train.training.callbacks.layer_param_histograms import LayerParamHistogramCallback
from soen_train.training.callbacks.noise_annealing import NoiseAnnealingCallback
from soen_train.training.callbacks.pooling_scale_scheduler import TimePoolingScaleScheduler
from soen_train.training.callbacks.qat import QATStraightThroughCallback
from soen_train.training.callbacks.quantized_accuracy import QuantizedAccuracyCallback
from soen_train.training.callbacks.seq_len_scheduler import TargetSeqLenScheduler
from soen_train.training.callbacks.state_trajectories import StateTrajectoryImageCallback
from soen_train.training.callbacks.stateful_training import StatefulTrainingCallback

__all__ = [
    "ConnectionHistogramCallback",
    "ConnectionNoiseCallback",
    "GradientNormCallback",
    "LayerParamHistogramCallback",
    "NoiseAnnealingCallback",
    "QATStraightThroughCallback",
    "QuantizedAccuracyCallback",
    "StateTrajectoryImageCallback",
    "StatefulTrainingCallback",
    "TargetSeqLenScheduler",
    "TimePoolingScaleScheduler",
    "build_dynamic_callbacks",
    "trainer_settings",
]
