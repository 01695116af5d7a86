"""Configuration: string keys to string values, as in Spark."""
from __future__ import annotations

from typing import Iterable

system_properties: dict[str, str] = {}
"""Process-wide properties (``SparkContext.setSystemProperty``), the JVM system
properties of PySpark; ``spark.*`` keys are defaults for every new SparkConf."""


class SparkConf:
    """A mutable map of ``spark.*`` settings.

    Values are stored as strings, exactly as Spark stores them; typed readers
    (:meth:`getInt`, :meth:`getFloat`, :meth:`getBoolean`, :meth:`getSeconds`)
    parse on read and name the key when a value cannot be parsed.
    """

    def __init__(self, loadDefaults: bool = True, _jvm: object = None, _jconf: object = None) -> None:
        """With ``loadDefaults``, start from the ``spark.*`` properties set with
        ``SparkContext.setSystemProperty``."""
        self._conf: dict[str, str] = {}
        if loadDefaults:
            self._conf.update((k, v) for k, v in system_properties.items() if k.startswith("spark."))

    def set(self, key: str, value: object) -> "SparkConf":
        self._conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return self

    def setIfMissing(self, key: str, value: object) -> "SparkConf":
        if key not in self._conf:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> "SparkConf":
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> "SparkConf":
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> "SparkConf":
        return self.set("spark.home", value)

    def setExecutorEnv(self, key: str | None = None, value: str | None = None,
                       pairs: Iterable[tuple[str, str]] | None = None) -> "SparkConf":
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise ValueError("setExecutorEnv takes either key and value, or pairs")
        for k, v in ([(key, value)] if key is not None else pairs):  # type: ignore[list-item]
            self.set("spark.executorEnv." + k, v)
        return self

    def setAll(self, pairs: Iterable[tuple[str, object]]) -> "SparkConf":
        for k, v in pairs:
            self.set(k, v)
        return self

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        return self._conf.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        return list(self._conf.items())

    def contains(self, key: str) -> bool:
        return key in self._conf

    def toDebugString(self) -> str:
        return "\n".join(f"{k}={v}" for k, v in self._conf.items())

    # typed readers (fluvial's own; Spark does the same on the JVM side)
    def getInt(self, key: str, default: int) -> int:
        raw = self._conf.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"configuration {key}={raw!r} is not an integer") from None

    def getFloat(self, key: str, default: float) -> float:
        raw = self._conf.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"configuration {key}={raw!r} is not a number") from None

    def getBoolean(self, key: str, default: bool) -> bool:
        raw = self._conf.get(key)
        if raw is None:
            return default
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"configuration {key}={raw!r} is not a boolean (true/false)")

    def getSeconds(self, key: str, default: float) -> float:
        """Read a duration such as ``200ms``, ``2s``, ``1min``; a bare number means seconds."""
        raw = self._conf.get(key)
        if raw is None:
            return default
        return parse_duration(raw, key, bare_unit=1.0)

    def getMillis(self, key: str, default: int) -> int:
        """Read a duration in milliseconds; a bare number means milliseconds, as in Spark."""
        raw = self._conf.get(key)
        if raw is None:
            return default
        return int(round(parse_duration(raw, key, bare_unit=0.001) * 1000))

    def __repr__(self) -> str:
        return f"SparkConf({self._conf!r})"


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(raw: str, key: str, bare_unit: float) -> float:
    text = raw.strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number):]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"configuration {key}={raw!r} is not a duration (e.g. 200ms, 2s)") from None
    if not unit:
        return value * bare_unit
    if unit not in _UNITS:
        raise ValueError(f"configuration {key}={raw!r} has unknown time unit {unit!r}")
    return value * _UNITS[unit]
