"""Turn Hydra sweep overrides into an Optuna search space, and sampled values back into overrides.

The syntax is the one the upstream ``hydra-optuna-sweeper`` accepts, so existing sweep files work:

    x=interval(0, 1)                 -> FloatDistribution(0, 1)
    lr=tag(log, interval(1e-4, 0.1)) -> FloatDistribution(1e-4, 0.1, log=True)
    n=tag(int, interval(1, 64))      -> IntDistribution(1, 64)  (``log`` may be added)
    n=range(1, 10, 2)                -> IntDistribution(1, 9, step=2)   (half-open, like Python)
    f=range(0.1, 1.0, 0.1)           -> FloatDistribution(0.1, 0.9, step=0.1)
    opt=choice(adam, sgd) / adam,sgd -> CategoricalDistribution(["adam", "sgd"])

Anything that is not a sweep (``epochs=3``, ``~key``) is a fixed override handed to every job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from soen_train.errors import SearchSpaceError
from soen_train.sweeps.override_text import primitive_text

#: Tags understood on ``interval(...)``: ``log`` samples on a log scale, ``int`` samples integers.
INTERVAL_TAGS = ("log", "int")
#: Tags understood on ``range(...)``.
RANGE_TAGS = ("log",)
#: Values Optuna can store as a categorical choice as they are.
_PRIMITIVES = (str, int, float, bool)


@dataclass(frozen=True)
class SearchParam:
    """One searched key: its override key, its Optuna distribution and how values are written."""

    key: str
    distribution: BaseDistribution
    #: For categorical parameters: the override text of each choice, in choice order.
    choice_texts: Tuple[str, ...] = ()

    def override_text(self, value: Any) -> str:
        """The value as override text (``key=<this>``) that parses back to ``value``."""
        if isinstance(self.distribution, CategoricalDistribution):
            for choice, text in zip(self.distribution.choices, self.choice_texts, strict=True):
                if type(choice) is type(value) and choice == value:
                    return text
            raise SearchSpaceError(
                f"value {value!r} is not one of the choices of '{self.key}': "
                f"{list(self.distribution.choices)}"
            )
        if isinstance(self.distribution, IntDistribution):
            return str(int(value))
        return repr(float(value))

    def grid_values(self) -> List[Any]:
        """Every value this parameter can take, for Optuna's GridSampler; error if continuous."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return list(dist.choices)
        if isinstance(dist, IntDistribution):
            return list(range(dist.low, dist.high + 1, dist.step))
        if isinstance(dist, FloatDistribution) and dist.step is not None:
            count = int(round((dist.high - dist.low) / dist.step)) + 1
            return [dist.low + i * dist.step for i in range(count)]
        raise SearchSpaceError(
            f"'{self.key}' is a continuous interval; a grid sampler needs choice(...) or "
            f"range(...) values for every parameter"
        )


@dataclass
class SearchSpace:
    """The searched parameters plus the overrides every job gets unchanged."""

    params: Dict[str, SearchParam] = field(default_factory=dict)
    fixed_overrides: List[str] = field(default_factory=list)

    @property
    def distributions(self) -> Dict[str, BaseDistribution]:
        """Parameter key -> Optuna distribution, the argument of ``Study.ask``."""
        return {key: p.distribution for key, p in self.params.items()}

    def job_overrides(self, values: Mapping[str, Any]) -> List[str]:
        """The override list of one job: fixed overrides, then ``key=value`` per searched key."""
        missing = [key for key in self.params if key not in values]
        if missing:
            raise SearchSpaceError(f"sampled values lack the searched keys {missing}")
        searched = [f"{key}={p.override_text(values[key])}" for key, p in self.params.items()]
        return list(self.fixed_overrides) + searched

    def composition_key(self, values: Mapping[str, Any]) -> Tuple[str, ...]:
        """What decides whether a job's override list composes: its overrides with each numeric
        value (float or int distribution) replaced by a placeholder. A number never changes
        which config files a composition reads, so jobs with one key compose alike and the
        sweeper checks one of them (``Sweeper.validate_batch_is_legal`` costs a full Hydra
        composition per job)."""
        numeric = (FloatDistribution, IntDistribution)
        searched = [
            f"{key}=<{type(p.distribution).__name__}>" if isinstance(p.distribution, numeric)
            else f"{key}={p.override_text(values[key])}"
            for key, p in self.params.items()
        ]
        return tuple(self.fixed_overrides) + tuple(searched)

    def grid(self) -> Dict[str, List[Any]]:
        """The full grid (key -> values) for Optuna's GridSampler."""
        return {key: p.grid_values() for key, p in self.params.items()}


def params_to_override_strings(params: Optional[Mapping[str, Any]]) -> List[str]:
    """``hydra.sweeper.params`` (key -> sweep text) as override strings ``key=text``."""
    if not params:
        return []
    return [f"{key}={value}" for key, value in params.items()]


def build_search_space(
    config_params: Optional[Mapping[str, Any]],
    arguments: Sequence[str],
    parser: Optional[OverridesParser] = None,
) -> SearchSpace:
    """Parse ``hydra.sweeper.params`` and the command-line overrides into a search space.

    A key given on the command line replaces the same key from ``hydra.sweeper.params``.

    Args:
        config_params: ``hydra.sweeper.params`` ({key: sweep expression}), or None.
        arguments: the command-line overrides.
        parser: Hydra's override parser (created when None).
    """
    parser = parser or OverridesParser.create()
    merged: Dict[str, Override] = {}
    for source, lines in (
        ("hydra.sweeper.params", params_to_override_strings(config_params)),
        ("the command line", list(arguments)),
    ):
        try:
            overrides = parser.parse_overrides(lines)
        except Exception as err:  # Hydra raises OverrideParseException and friends
            raise SearchSpaceError(f"cannot parse a sweep override from {source}: {err}") from err
        for override in overrides:
            merged[override.get_key_element()] = override

    space = SearchSpace()
    for key, override in merged.items():
        if override.is_sweep_override():
            space.params[key] = _to_param(key, override)
        else:
            space.fixed_overrides.append(override.input_line or _fixed_text(override))
    return space


def _fixed_text(override: Override) -> str:
    """Rebuild a non-sweep override's text when the parser kept no input line."""
    if override.is_delete():
        return f"~{override.get_key_element().lstrip('~')}"
    return f"{override.get_key_element()}={override.get_value_element_as_str()}"


def _to_param(key: str, override: Override) -> SearchParam:
    """One sweep override -> SearchParam, or SearchSpaceError naming the key and the problem."""
    value = override.value()
    if getattr(value, "shuffle", False):
        raise SearchSpaceError(
            f"'{key}': shuffle(...) has no meaning in an Optuna search (the sampler picks the "
            f"order); drop it"
        )
    if isinstance(value, IntervalSweep):
        return _interval_param(key, value)
    if isinstance(value, RangeSweep):
        return _range_param(key, override, value)
    if isinstance(value, ChoiceSweep):
        return _choice_param(key, override, value)
    raise SearchSpaceError(f"'{key}': unsupported sweep {override.input_line!r}")


def _check_tags(key: str, tags: Iterable[str], allowed: Tuple[str, ...], kind: str) -> None:
    unknown = sorted(set(tags) - set(allowed))
    if unknown:
        raise SearchSpaceError(
            f"'{key}': tag(s) {unknown} are not understood on {kind}(...); valid: {list(allowed)}"
        )


def _interval_param(key: str, sweep: IntervalSweep) -> SearchParam:
    _check_tags(key, sweep.tags, INTERVAL_TAGS, "interval")
    low, high = float(sweep.start), float(sweep.end)
    log = "log" in sweep.tags
    if not low < high:
        raise SearchSpaceError(f"'{key}': interval({low}, {high}) needs start < end")
    if log and low <= 0:
        raise SearchSpaceError(f"'{key}': tag(log, interval(...)) needs start > 0, got {low}")
    if "int" in sweep.tags:
        if low != math.floor(low) or high != math.floor(high):
            raise SearchSpaceError(
                f"'{key}': tag(int, interval({low}, {high})) needs whole-number bounds"
            )
        return SearchParam(key, IntDistribution(int(low), int(high), log=log))
    return SearchParam(key, FloatDistribution(low, high, log=log))


def _range_param(key: str, override: Override, sweep: RangeSweep) -> SearchParam:
    _check_tags(key, sweep.tags, RANGE_TAGS, "range")
    if sweep.step == 0:
        raise SearchSpaceError(f"'{key}': range(...) step must not be 0")
    # Hydra enumerates the range (half-open, like Python's range); the bounds come from it.
    values = list(override.sweep_iterator())
    if not values:
        raise SearchSpaceError(
            f"'{key}': range({sweep.start}, {sweep.stop}, {sweep.step}) is empty"
        )
    low, high, size = min(values), max(values), abs(sweep.step)
    log = "log" in sweep.tags
    is_int = all(
        isinstance(v, int) and not isinstance(v, bool)
        for v in (sweep.start, sweep.stop, sweep.step)
    )
    if log and (size != 1 or not is_int):
        raise SearchSpaceError(
            f"'{key}': tag(log, range(...)) needs integer bounds and step 1 "
            f"(Optuna cannot combine log sampling with a step); use tag(log, int, interval(...))"
        )
    if log and low <= 0:
        raise SearchSpaceError(f"'{key}': tag(log, range(...)) needs start > 0, got {low}")
    if is_int:
        return SearchParam(key, IntDistribution(int(low), int(high), log=log, step=int(size)))
    if len(values) == 1:
        # A one-value float range: Optuna needs low < high for a stepped float, so use a choice.
        return SearchParam(
            key, CategoricalDistribution([float(low)]), choice_texts=(repr(float(low)),)
        )
    return SearchParam(key, FloatDistribution(float(low), float(high), step=float(size)))


def _choice_param(key: str, override: Override, sweep: ChoiceSweep) -> SearchParam:
    if sweep.tags:
        raise SearchSpaceError(
            f"'{key}': tags {sorted(sweep.tags)} have no meaning on a choice; drop tag(...)"
        )
    values = list(override.sweep_iterator())
    hydra_texts = list(override.sweep_string_iterator())
    # Optuna stores primitives; a list or dict choice is kept as its override text instead.
    choices = [
        v if isinstance(v, _PRIMITIVES) else t for v, t in zip(values, hydra_texts, strict=True)
    ]
    texts = [primitive_text(v) or t for v, t in zip(values, hydra_texts, strict=True)]
    seen: List[Any] = []
    for choice in choices:
        if any(type(s) is type(choice) and s == choice for s in seen):
            raise SearchSpaceError(f"'{key}': choice value {choice!r} appears twice")
        seen.append(choice)
    return SearchParam(key, CategoricalDistribution(choices), choice_texts=tuple(texts))
