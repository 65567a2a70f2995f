"""Hydra's sweep syntax -> Optuna distributions, and Optuna's values -> override strings.

Accepted per key: `a,b,c` and `choice(a,b,c)` (also `glob(...)` over config groups), `range(start, stop[, step])`
(stop excluded, as in Hydra), `interval(low, high)` (float), `int(interval(low, high))`, and
`tag(log, interval(...))` / `tag(log, int(interval(...)))` for a log scale. Anything else is a fixed override
passed to every job unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    Quote,
    QuotedString,
    RangeSweep,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ._errors import SweepConfigError

KNOWN_TAGS = {"log"}
_PLAIN_PARSER = OverridesParser.create()


@dataclass(frozen=True)
class SearchParam:
    """One searched key: its Optuna distribution and how a sampled value becomes an override."""

    name: str  # the Optuna parameter name: the key without its +/++ prefix
    override_key: str  # the key as written in the override, prefix included
    distribution: BaseDistribution
    grid_values: list[Any] | None  # every value, for an exact grid; None when the range is continuous
    verbatim: bool = False  # choices are override strings (lists, dicts), inserted as written
    origin: str = ""  # where it was defined, for error messages

    def override(self, value: Any) -> str:
        return f"{self.override_key}={value if self.verbatim else format_value(value)}"


@dataclass
class SearchSpace:
    params: list[SearchParam] = field(default_factory=list)
    fixed_overrides: list[str] = field(default_factory=list)  # passed to every job unchanged

    def distributions(self) -> dict[str, BaseDistribution]:
        return {param.name: param.distribution for param in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """The value lists of an exact grid; refuses continuous parameters."""
        continuous = [param for param in self.params if param.grid_values is None]
        if continuous:
            raise SweepConfigError(
                f"{continuous[0].origin}: the grid sampler needs discrete values, and {continuous[0].name} is a "
                "continuous interval; use choice(...), range(...), a comma list or int(interval(...)), "
                "or pick another sampler (hydra.sweeper.sampler.name=tpe)"
            )
        return {param.name: list(param.grid_values or []) for param in self.params}

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def overrides_for(self, values: Mapping[str, Any]) -> list[str]:
        """A job's overrides: the fixed ones, then one per searched key."""
        return [*self.fixed_overrides, *(param.override(values[param.name]) for param in self.params)]


def parse_search_space(
    params: Mapping[str, Any] | None, arguments: Iterable[str], config_loader: Any = None
) -> SearchSpace:
    """`hydra.sweeper.params` first, then the command line's overrides (which win for the same key)."""
    if params is not None and not isinstance(params, Mapping):
        raise SweepConfigError(f"hydra.sweeper.params must map keys to sweeps, got {params!r}")
    parser = OverridesParser.create(config_loader=config_loader)
    lines = [
        (f"hydra.sweeper.params.{key}", f"{key}={_as_override_text(value)}")
        for key, value in (params or {}).items()
    ]
    lines += [(f"command-line override '{argument}'", argument) for argument in arguments]
    by_name: dict[str, SearchParam | str] = {}
    for where, line in lines:
        try:
            override = parser.parse_override(line)
        except HydraException as error:
            raise SweepConfigError(f"{where}: cannot parse '{line}': {error}") from None
        name = _param_name(override)
        by_name.pop(name, None)  # a later definition replaces an earlier one and takes its place at the end
        by_name[name] = _search_param(override, where) if override.is_sweep_override() else _fixed(override)
    space = SearchSpace()
    for entry in by_name.values():
        if isinstance(entry, SearchParam):
            space.params.append(entry)
        else:
            space.fixed_overrides.append(entry)
    return space


def _as_override_text(value: Any) -> str:
    return value if isinstance(value, str) else format_value(value)


def _param_name(override: Override) -> str:
    return (
        override.key_or_group if override.package is None else f"{override.key_or_group}@{override.package}"
    )


def _fixed(override: Override) -> str:
    if override.is_delete() and override.value_type is None:
        return override.get_key_element()
    return f"{override.get_key_element()}={override.get_value_element_as_str()}"


def _search_param(override: Override, where: str) -> SearchParam:
    sweep = override.value()
    unknown_tags = sorted(set(getattr(sweep, "tags", set())) - KNOWN_TAGS)
    if unknown_tags:
        raise SweepConfigError(f"{where}: unknown tag {unknown_tags[0]!r} (known tags: log)")
    make = {ChoiceSweep: _choice, RangeSweep: _range, IntervalSweep: _interval}.get(type(sweep))
    if make is None:
        raise SweepConfigError(f"{where}: unsupported sweep {override.input_line!r}")
    try:
        distribution, grid_values, verbatim = make(override, sweep, where)
    except ValueError as error:  # Optuna's own checks, e.g. low > high
        raise SweepConfigError(f"{where}: {error}") from None
    return SearchParam(
        _param_name(override), override.get_key_element(), distribution, grid_values, verbatim, where
    )


def _choice(override: Override, sweep: ChoiceSweep, where: str) -> tuple[BaseDistribution, list[Any], bool]:
    if "log" in sweep.tags:
        raise SweepConfigError(
            f"{where}: tag(log, ...) applies to interval(...) or range(...), not to choices"
        )
    values = [_plain(value) for value in override.sweep_iterator()]
    verbatim = any(isinstance(value, (list, dict)) for value in values)
    if verbatim:  # Optuna stores only scalars: keep such choices as the override text that produces them
        values = [format_value(value) for value in values]
    if len(set(map(repr, values))) != len(values):
        raise SweepConfigError(f"{where}: the choices repeat a value: {values}")
    return CategoricalDistribution(values), values, verbatim


def _range(override: Override, sweep: RangeSweep, where: str) -> tuple[BaseDistribution, list[Any], bool]:
    start, stop, step = sweep.start, sweep.stop, sweep.step
    if step == 0:
        raise SweepConfigError(f"{where}: range step must not be 0")
    integral = all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop, step))
    values = _range_values(start, stop, step, integral)
    if not values:
        raise SweepConfigError(
            f"{where}: range({start}, {stop}, {step}) is empty (the stop value is excluded)"
        )
    low, high, log = min(values), max(values), "log" in sweep.tags
    if integral:
        if log and abs(step) != 1:
            raise SweepConfigError(f"{where}: a log-scaled integer range needs step 1")
        return IntDistribution(low, high, log=log, step=1 if log else abs(step)), values, False
    if log:
        raise SweepConfigError(
            f"{where}: a float range has a step and cannot be log-scaled; use interval(...)"
        )
    float_step = float(abs(Decimal(str(step))))
    return FloatDistribution(low, high, step=float_step if len(values) > 1 else None), values, False


def _range_values(start: Any, stop: Any, step: Any, integral: bool) -> list[Any]:
    if integral:
        return list(range(start, stop, step))
    # decimal arithmetic on the written numbers, so range(0.1, 0.5, 0.1) gives 0.3, not 0.30000000000000004
    first, last, increment = (Decimal(str(x)) for x in (start, stop, step))
    count = max(0, math.ceil((last - first) / increment))
    return [float(first + index * increment) for index in range(count)]


def _interval(
    override: Override, sweep: IntervalSweep, where: str
) -> tuple[BaseDistribution, list[Any] | None, bool]:
    low, high, log = sweep.start, sweep.end, "log" in sweep.tags
    if isinstance(low, int) and isinstance(high, int):  # int(interval(...)): every integer in [low, high]
        return IntDistribution(low, high, log=log), list(range(low, high + 1)), False
    return FloatDistribution(float(low), float(high), log=log), None, False


def _plain(value: Any) -> Any:
    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    return value


def format_value(value: Any) -> str:
    """The override text Hydra parses back into `value` (strings are quoted only when they must be)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            repr(value) if math.isfinite(value) else {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(value)]
        )
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(f"{format_value(str(key))}:{format_value(item)}" for key, item in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    raise SweepConfigError(f"cannot write {value!r} ({type(value).__name__}) as an override value")


def _format_string(text: str) -> str:
    try:  # written bare when Hydra reads it back as the same string ("lora", "sqlite:///a.db")
        if _PLAIN_PARSER.parse_override(f"key={text}").value() == text:
            return text
    except HydraException:
        pass
    return QuotedString(text=text, quote=Quote.single).with_quotes()
