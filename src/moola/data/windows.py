"""The in-memory window format that every loader produces and every consumer accepts.

A *window* is K consecutive OHLC bars with one type label and one expansion span
(``expansion_start..expansion_end``, both inclusive bar indices). Keeping one small,
validated container means loaders, the generator and the dataset never disagree on
shapes, dtypes or what counts as a valid label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from moola.errors import DataValidationError, InputValidationError

#: Type-label names; the position is the class id (original: consolidation=0, retracement=1).
LABEL_NAMES: tuple[str, ...] = ("consolidation", "retracement", "continuation")

#: Bars per window in the original data set.
DEFAULT_WINDOW = 105

_OPEN, _HIGH, _LOW, _CLOSE = 0, 1, 2, 3


class WindowValidationError(DataValidationError, InputValidationError):
    """Bad window data or labels.

    Raised by the shared validators, which check both data sets (a
    ``DataValidationError``) and tensors handed in by callers (an
    ``InputValidationError``), so either ``except`` clause catches it.

    :func:`validate_ohlc` also says where, for callers that report it in their own terms
    (the model server names the request's window and bar): ``row`` and ``bar`` of the first
    bad bar and ``problem``, the message without its location. They are None elsewhere.
    """

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        bar: int | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.row, self.bar, self.problem = row, bar, problem


def _to_numpy(values: Any, name: str) -> np.ndarray:
    """Turn a numpy array, torch tensor or sequence into a numpy array, without importing torch."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    try:
        return np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise WindowValidationError(f"{name} could not be read as an array: {exc}") from exc


def _index_values(values: Any, name: str, what: str) -> np.ndarray:
    """Check that ``values`` is a 1-D array of whole numbers and return it as int64.

    Floats are accepted when they hold whole numbers (parquet/CSV readers may give
    floats), but NaN, inf and fractions are rejected with the first bad index.
    """
    arr = _to_numpy(values, name)
    if arr.ndim != 1:
        raise WindowValidationError(f"{name} must be 1-D, got shape {tuple(arr.shape)}")
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise WindowValidationError(f"{name} must hold integers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (np.abs(arr) > 2**53)
        if bad.any():
            i = int(np.argmax(bad))
            raise WindowValidationError(
                f"{what} {i}: {name} must be a whole number, got {arr[i].item()!r}"
            )
    return arr.astype(np.int64)


def validate_labels(
    label: Any,
    expansion_start: Any,
    expansion_end: Any,
    window: int,
    n_classes: int = 3,
    what: str = "row",
) -> None:
    """Reject labels that would silently corrupt targets (out-of-range class, inverted span...).

    Accepts numpy arrays or torch tensors (1-D, same length). The message names the
    first offending index, e.g. ``"row 17: expansion_start (60) > expansion_end (50)"``.
    """
    lab = _index_values(label, "label", what)
    start = _index_values(expansion_start, "expansion_start", what)
    end = _index_values(expansion_end, "expansion_end", what)
    if not (len(lab) == len(start) == len(end)):
        raise WindowValidationError(
            f"label, expansion_start and expansion_end must have the same length, "
            f"got {len(lab)}, {len(start)} and {len(end)}"
        )
    # Each check is (mask of bad entries, message for entry i); report the lowest bad index.
    checks = [
        (
            (lab < 0) | (lab >= n_classes),
            lambda i: f"label ({lab[i]}) is outside [0, {n_classes})",
        ),
        (start < 0, lambda i: f"expansion_start ({start[i]}) is negative"),
        (
            end >= window,
            lambda i: (
                f"expansion_end ({end[i]}) is past the last bar ({window - 1}) "
                f"of a {window}-bar window"
            ),
        ),
        (start > end, lambda i: f"expansion_start ({start[i]}) > expansion_end ({end[i]})"),
    ]
    first: tuple[int, str] | None = None
    for bad, message in checks:
        if bad.any():
            i = int(np.argmax(bad))
            if first is None or i < first[0]:
                first = (i, message(i))
    if first is not None:
        raise WindowValidationError(f"{what} {first[0]}: {first[1]}")


def ohlc_is_valid(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> bool:
    """True exactly when :func:`validate_ohlc`'s value checks all pass: the fast path.

    ``0 < low <= min(open, close)``, ``max(open, close) <= high < inf``: every price then
    lies in ``[low, high]``, so it is positive and finite, and ``high >= low``. A NaN fails
    every comparison (``np.minimum``/``np.maximum`` propagate it), so it is caught too. The
    detailed checks run only when this says False, to find and name the first bad bar.
    """
    with np.errstate(invalid="ignore"):
        return bool(
            (lo > 0).all()
            and (np.minimum(o, c) >= lo).all()
            and (np.maximum(o, c) <= h).all()
            and (h < np.inf).all()
        )


def validate_ohlc(ohlc: np.ndarray, window: int | None = None) -> None:
    """Reject OHLC arrays whose bars are impossible, so features never see NaN or negative ranges.

    Requires shape (N, K, 4) with K >= 2 (and K == ``window`` when given), finite
    positive prices, ``high >= max(open, close)``, ``low <= min(open, close)`` and
    ``high >= low``. The message names the first bad row and bar.
    """
    arr = _to_numpy(ohlc, "ohlc")
    if arr.ndim != 3 or arr.shape[2] != 4:
        raise WindowValidationError(
            f"ohlc must have shape (N, K, 4) with columns [open, high, low, close], "
            f"got {tuple(arr.shape)}"
        )
    if arr.shape[1] < 2:
        raise WindowValidationError(f"windows need at least 2 bars, got {arr.shape[1]}")
    if window is not None and arr.shape[1] != window:
        raise WindowValidationError(f"windows must have {window} bars, got {arr.shape[1]}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise WindowValidationError(f"ohlc must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    o, h, lo, c = arr[..., _OPEN], arr[..., _HIGH], arr[..., _LOW], arr[..., _CLOSE]
    if ohlc_is_valid(o, h, lo, c):
        return
    with np.errstate(invalid="ignore"):
        checks = [
            (~np.isfinite(arr).all(axis=2), "has a NaN or infinite price"),
            ((arr <= 0).any(axis=2), "has a price <= 0"),
            (h < lo, "high < low"),
            (h < np.maximum(o, c), "high < max(open, close)"),
            (lo > np.minimum(o, c), "low > min(open, close)"),
        ]
    # Report the first bad bar in row-major order; ties go to the earlier (more basic) check.
    best: tuple[int, str] | None = None
    for bad, problem in checks:
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            if best is None or flat < best[0]:
                best = (flat, problem)
    if best is not None:
        row, bar = divmod(best[0], arr.shape[1])
        values = ", ".join(f"{v:.6g}" for v in arr[row, bar])
        problem = f"{best[1]} (open, high, low, close = {values})"
        raise WindowValidationError(
            f"row {row}, bar {bar}: {problem}", row=row, bar=bar, problem=problem
        )


@dataclass(frozen=True, eq=False)
class OHLCWindows:
    """N labelled windows of K OHLC bars.

    Construction only fixes dtypes and checks that the arrays fit together;
    call :meth:`validate` to check the values (prices, label range, span bounds).
    """

    ohlc: np.ndarray  # (N, K, 4) float64, columns [open, high, low, close]
    label: np.ndarray  # (N,) int64 in [0, n_classes)
    expansion_start: np.ndarray  # (N,) int64, inclusive bar index
    expansion_end: np.ndarray  # (N,) int64, inclusive bar index, start <= end < K
    #: Optional (N,) int64: offset of each window's first bar in the series it was cut from.
    #: Present for windows cut from one continuous series (``moola label``); it makes the
    #: train/validation split chronological and purged (see ``moola.data.split_windows``).
    start_bar: np.ndarray | None = None
    #: Optional (N,) int64 series id beside ``start_bar`` (pooled series, ``moola.data.pooled``):
    #: splits and folds cut every series on its own, so no bars of one series cross a split.
    series: np.ndarray | None = None

    def __post_init__(self) -> None:
        ohlc = _to_numpy(self.ohlc, "ohlc")
        if ohlc.ndim != 3 or ohlc.shape[2] != 4:
            raise WindowValidationError(
                f"ohlc must have shape (N, K, 4) with columns [open, high, low, close], "
                f"got {tuple(ohlc.shape)}"
            )
        try:
            ohlc = ohlc.astype(np.float64, copy=False)
        except (TypeError, ValueError) as exc:
            raise WindowValidationError(f"ohlc must hold numbers: {exc}") from exc
        label = _index_values(self.label, "label", "row")
        start = _index_values(self.expansion_start, "expansion_start", "row")
        end = _index_values(self.expansion_end, "expansion_end", "row")
        n = ohlc.shape[0]
        if not (len(label) == len(start) == len(end) == n):
            raise WindowValidationError(
                f"ohlc has {n} windows but label, expansion_start and expansion_end have "
                f"{len(label)}, {len(start)} and {len(end)} entries"
            )
        object.__setattr__(self, "ohlc", ohlc)
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "expansion_start", start)
        object.__setattr__(self, "expansion_end", end)
        if self.start_bar is not None:
            start_bar = _index_values(self.start_bar, "start_bar", "row")
            if len(start_bar) != n:
                raise WindowValidationError(
                    f"ohlc has {n} windows but start_bar has {len(start_bar)} entries"
                )
            if (start_bar < 0).any():
                i = int(np.argmax(start_bar < 0))
                raise WindowValidationError(f"row {i}: start_bar ({start_bar[i]}) is negative")
            object.__setattr__(self, "start_bar", start_bar)
        if self.series is not None:
            if self.start_bar is None:
                raise WindowValidationError(
                    "series ids need start_bar (each window's offset in its series); "
                    "add start_bar or drop series"
                )
            series = _index_values(self.series, "series", "row")
            if len(series) != n or (series < 0).any():
                raise WindowValidationError(
                    f"series must hold {n} non-negative ids, one per window, got {len(series)}"
                    + (
                        f" (row {int(np.argmax(series < 0))} is negative)"
                        if len(series) == n
                        else ""
                    )
                )
            object.__setattr__(self, "series", series)

    def __len__(self) -> int:
        return int(self.ohlc.shape[0])

    @property
    def window(self) -> int:
        """Bars per window (K)."""
        return int(self.ohlc.shape[1])

    def subset(self, index: np.ndarray) -> OHLCWindows:
        """The windows selected by an integer index array or a boolean mask (e.g. a split)."""
        idx = _to_numpy(index, "index")
        if idx.dtype == np.bool_:
            if idx.shape != (len(self),):
                raise InputValidationError(
                    f"a boolean index must have shape ({len(self)},), got {tuple(idx.shape)}"
                )
        else:
            idx = _index_values(idx.reshape(-1) if idx.ndim == 0 else idx, "index", "position")
            out_of_range = (idx < -len(self)) | (idx >= len(self))
            if out_of_range.any():
                i = int(np.argmax(out_of_range))
                raise InputValidationError(
                    f"index position {i}: {idx[i]} is out of range for {len(self)} windows"
                )
        return OHLCWindows(
            ohlc=self.ohlc[idx],
            label=self.label[idx],
            expansion_start=self.expansion_start[idx],
            expansion_end=self.expansion_end[idx],
            start_bar=None if self.start_bar is None else self.start_bar[idx],
            series=None if self.series is None else self.series[idx],
        )

    def validate(self, n_classes: int = 3) -> OHLCWindows:
        """Check prices and labels; returns self so loaders can ``return windows.validate()``."""
        validate_ohlc(self.ohlc)
        validate_labels(
            self.label,
            self.expansion_start,
            self.expansion_end,
            window=self.window,
            n_classes=n_classes,
        )
        return self
