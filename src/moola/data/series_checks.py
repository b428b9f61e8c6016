"""Checks on a bar series file that catch a wrong file before it is labelled wrongly.

``moola label`` takes rows in file order, oldest first. A file with a date column that runs
backwards (newest first, as many downloads come) would be labelled backwards, silently:
:func:`check_oldest_first` refuses it. A header that holds semicolons is a semicolon CSV,
which the comma reader sees as one column: :func:`header_hint` says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from moola.errors import DataValidationError

#: Column names taken as the series' time axis (case-insensitive; "" is a pandas index).
DATE_NAMES = ("", "date", "time", "datetime", "timestamp", "index")


def date_column(names: list[str]) -> int | None:
    """Index of the first column that looks like the time axis, or None."""
    for i, name in enumerate(names):
        key = name.strip().lower()
        if key in DATE_NAMES or "date" in key or "time" in key:
            return i
    return None


def _as_time(value: Any) -> Any:
    """A comparable time from an ISO date string, a number or a datetime; None if unknown."""
    if isinstance(value, (dt.date, int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return None
    return None


def check_oldest_first(first: Any, last: Any, column: str, source: str) -> None:
    """Refuse a series whose time column runs backwards (first row later than the last)."""
    start, end = _as_time(first), _as_time(last)
    if start is None or end is None or type(start) is not type(end):
        return  # not a time we can read: nothing to say
    if start > end:
        raise DataValidationError(
            f"{source}: the rows run newest first (column {column!r} goes from {first} down to "
            f"{last}); moola reads rows in file order, oldest first: reverse the rows, e.g. "
            "(head -n 1 FILE; tail -n +2 FILE | tac) > oldest_first.csv"
        )


def header_hint(names: list[str]) -> str:
    """A hint for a header the comma reader cannot split ('' when there is nothing to say)."""
    if len(names) == 1 and ";" in names[0]:
        return "; the header looks semicolon-separated: save the file with commas"
    if len(names) == 1 and "\t" in names[0]:
        return "; the header looks tab-separated: save the file with commas"
    return ""
