"""How spec values look on a page: units from field names, Markdown tables and code spans.

The policies name their units in their field names (``interval_s``, ``memory_bytes``,
``network_bits_per_s``), so the docs can print "10 s" or "4 GiB" without a second table of
units that could drift from the models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel

#: Units a caller may ask for explicitly with ``value(path, unit=...)``.
UNITS = ("s", "percent", "bytes", "bit/s", "plain")

_BINARY_PREFIXES = ((1024**4, "TiB"), (1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))
_DECIMAL_BIT_RATES = ((10**9, "Gbit/s"), (10**6, "Mbit/s"), (10**3, "kbit/s"))


def number(value: float) -> str:
    """``2.0`` → ``2``, ``0.5`` → ``0.5``, ``1_000`` → ``1,000``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def seconds(value: float) -> str:
    """Seconds, with minutes or hours added when they read better: ``300 s (5 min)``."""
    text = f"{number(value)} s"
    if value >= 3600 and value % 3600 == 0:
        return f"{text} ({number(value / 3600)} h)"
    if value >= 60 and value % 60 == 0:
        return f"{text} ({number(value / 60)} min)"
    return text


def size_bytes(value: float) -> str:
    for factor, unit in _BINARY_PREFIXES:
        if value >= factor and value % factor == 0:
            return f"{number(value / factor)} {unit}"
    return f"{number(value)} bytes"


def bit_rate(value: float) -> str:
    for factor, unit in _DECIMAL_BIT_RATES:
        if value >= factor and value % factor == 0:
            return f"{number(value / factor)} {unit}"
    return f"{number(value)} bit/s"


def percent(fraction: float) -> str:
    return f"{number(round(fraction * 100, 6))}%"


def unit_for(name: str) -> str:
    """The unit a field or method name implies (the spec's naming convention)."""
    if name.endswith("bits_per_s"):
        return "bit/s"
    if name.endswith("_bytes"):
        return "bytes"
    if name.endswith("_s") or name.endswith("_seconds") or name == "schedule":
        return "s"
    return "plain"


def with_unit(value: Any, unit: str) -> str:
    """Format a scalar, or each item of a sequence, in `unit` (one of :data:`UNITS`)."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; units: {', '.join(UNITS)}")
    if isinstance(value, (list, tuple)):
        return ", ".join(with_unit(item, unit) for item in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return scalar(value)
    if unit == "s":
        return seconds(value)
    if unit == "bytes":
        return size_bytes(value)
    if unit == "bit/s":
        return bit_rate(value)
    if unit == "percent":
        return percent(value)
    return number(value)


def scalar(value: Any) -> str:
    """Anything that is not a number: booleans, enums, strings, ``None``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, BaseModel):
        return ", ".join(f"{k}={scalar(v)}" for k, v in value.model_dump().items())
    return str(value)


def code(text: str) -> str:
    """An inline code span that survives backticks in `text`."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def inline_text(text: str) -> str:
    """`text` as literal Markdown prose: no emphasis, links, code or HTML from its characters."""
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    for char in "\\`*_[{":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())


def cell(text: str) -> str:
    """Make `text` safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells are escaped here, so callers pass plain text or inline Markdown."""
    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    count = 0
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"table row has {len(row)} cells, expected {len(headers)}: {row!r}")
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        count += 1
    if count == 0:
        raise ValueError("table has no rows")
    return "\n".join(lines)
