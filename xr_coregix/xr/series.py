"""Fits along a time dim: a datacube's slices registered one by one against one reference.

A :class:`TransformSeries` travels as JSON (:meth:`TransformSeries.to_json`) or as a Dataset of
its parameters along the dim (:meth:`TransformSeries.to_dataset`, writable with ``to_netcdf``);
both read back exactly, failed slices included.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ..core.transform import (
    SHIFT_AXES,
    RigidTransform,
    _crs_text,
    metric_text,
    rotation_text,
    shift_text,
)
from ..errors import CoregError

if TYPE_CHECKING:  # pandas is imported where it is used
    import pandas as pd


def series_dim(obj: xr.DataArray | xr.Dataset, spatial: tuple[str, str]) -> Hashable | None:
    """The dim of ``obj`` that orders observations: ``time``, or a dim of datetimes."""
    for dim in obj.dims:
        if dim in spatial:
            continue
        if dim == "time" or (dim in obj.coords and np.issubdtype(obj[dim].dtype, np.datetime64)):
            return dim
    return None


PARAMETERS = {
    "rotation_deg": ("degrees", "rotation, counter-clockwise in map coordinates"),
    "tx": ("CRS units", "translation along x (east)"),
    "ty": ("CRS units", "translation along y (north)"),
    "shift_x_px": ("reference pixels", "translation along x (east)"),
    "shift_y_px": ("reference pixels", "translation along y (north)"),
    "metric_before": ("1", "registration metric at the identity (lower is better)"),
    "metric_after": ("1", "registration metric at the fit (lower is better)"),
    "valid_fraction": ("1", "share of the overlap valid in both rasters"),
    "error_bound_px": (
        "reference pixels",
        "displacement the fit's error stays within in 9 of 10 cases (diagnostics.error_bound)",
    ),
    "rotation": ("radians", "rotation, counter-clockwise (the fit's own value)"),
    "cx": ("CRS units", "x of the centre of rotation"),
    "cy": ("CRS units", "y of the centre of rotation"),
}
"""The numeric variables of :meth:`TransformSeries.to_dataset`: units and description."""

READ_BACK = ("rotation", "tx", "ty", "cx", "cy")
"""The variables :meth:`TransformSeries.from_dataset` rebuilds each fit from."""

TABLE_COLUMNS = ("shift_x_px", "shift_y_px", "tx", "ty", "rotation_deg", "metric_before",
                 "metric_after", "valid_fraction", "error_bound_px")  # fmt: skip
"""The numeric columns of :meth:`TransformSeries.to_dataframe`, in order."""

HTML_ROWS = 40
"""Longer series show their first and last ``HTML_ROWS // 2`` slices in the HTML repr."""


def _numbers(fit: RigidTransform | None) -> dict[str, float]:
    """The values of ``PARAMETERS`` for one fit (NaN for a missing fit or diagnostic)."""
    values = dict.fromkeys(PARAMETERS, math.nan)
    if fit is None:
        return values
    values.update(rotation_deg=fit.rotation_degrees, rotation=fit.rotation)
    values.update(zip(("tx", "ty"), fit.translation, strict=True))
    values.update(zip(("cx", "cy"), fit.center, strict=True))
    diag = fit.diagnostics
    if diag is not None:
        # shift_in_pixels(pixel size): x east, y north, as the reprs and plot titles show it
        values.update(zip(("shift_x_px", "shift_y_px"), fit.shift_in_pixels(diag.pixel_size)))
        values.update(metric_before=diag.metric_before, metric_after=diag.metric_after,
                      valid_fraction=diag.valid_fraction)  # fmt: skip
        if diag.error_bound is not None:
            values["error_bound_px"] = diag.error_bound
    return values


def _reliable(fit: RigidTransform | None) -> bool:
    """False for a failed slice and for a fit flagged unreliable."""
    return fit is not None and (fit.diagnostics is None or fit.diagnostics.reliable)


def _reason(fit: RigidTransform | None, error: str) -> str:
    """Why a slice failed, or the checks its fit failed; empty for a good fit."""
    if fit is not None and fit.diagnostics is not None and not fit.diagnostics.reliable:
        return "; ".join(fit.diagnostics.problems)
    return error


def _is_scalar(label: Any) -> bool:
    return not isinstance(label, slice) and np.ndim(label) == 0


@dataclass(frozen=True, eq=False)
class TransformSeries:
    """One fit per slice of a datacube, indexed like the cube's time coordinate.

    Attributes
    ----------
    dim : hashable
        The dim the fits run along (``"time"``).
    index : pandas.Index
        Its coordinate values (any sequence is taken; the index is named after ``dim``).
    fits : tuple of RigidTransform or None
        The fit of each slice; None where the slice could not be registered.
    errors : tuple of str
        Why a slice could not be registered; empty where it was.

    Raises
    ------
    CoregError
        When ``index``, ``fits`` and ``errors`` differ in length, or a fit is neither a
        :class:`~xr_coregix.RigidTransform` nor None.

    Notes
    -----
    Two series are equal when their dim, index (values and dtype), fits and errors are; fits
    compare as :class:`~xr_coregix.RigidTransform` does (diagnostics apart).

    Examples
    --------
    >>> import pandas as pd
    >>> series = TransformSeries(
    ...     "time",
    ...     pd.to_datetime(["2024-01-01T10:30", "2024-02-01T10:31"]),
    ...     (RigidTransform(0.0, (30.0, 0.0)), None),
    ...     ("", "cloud"),
    ... )
    >>> series.sel(time="2024-01-01").translation  # the day, whatever the hour
    (30.0, 0.0)
    >>> series.sel(time="2024-01-20", method="nearest") is None  # the nearest date failed
    True
    >>> series.to_dataset()["tx"].values.tolist()
    [30.0, nan]
    >>> TransformSeries.from_json(series.to_json()) == series
    True
    """

    dim: Hashable
    index: pd.Index
    fits: tuple[RigidTransform | None, ...]
    errors: tuple[str, ...]

    def __post_init__(self) -> None:
        import pandas as pd

        index = self.index if isinstance(self.index, pd.Index) else pd.Index(self.index)
        if index.name != self.dim:
            index = index.rename(self.dim)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "fits", tuple(self.fits))
        object.__setattr__(self, "errors", tuple(str(e) for e in self.errors))
        if not len(self.index) == len(self.fits) == len(self.errors):
            raise CoregError(
                f"TransformSeries: {len(self.index)} labels, {len(self.fits)} fits and "
                f"{len(self.errors)} errors: give one of each per slice"
            )
        bad = {type(f).__name__ for f in self.fits if not isinstance(f, RigidTransform | None)}
        if bad:
            raise CoregError(
                f"TransformSeries fits must be RigidTransform or None (a failed slice), not "
                f"{', '.join(sorted(bad))}"
            )

    def __len__(self) -> int:
        return len(self.fits)

    def __iter__(self) -> Iterator[RigidTransform | None]:
        return iter(self.fits)

    def __getitem__(self, position: int) -> RigidTransform | None:
        """The fit at a position along the dim."""
        return self.fits[position]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransformSeries):
            return NotImplemented
        return (
            self.dim == other.dim
            and self.index.dtype == other.index.dtype
            and self.index.equals(other.index)
            and self.fits == other.fits
            and self.errors == other.errors
        )

    # ----------------------------------------------------------------- selection
    def sel(
        self, method: str | None = None, tolerance: Any = None, **label: Any
    ) -> RigidTransform | TransformSeries | None:
        """The fit at a coordinate label, selected as :meth:`xarray.DataArray.sel` would.

        Parameters
        ----------
        method : {None, "nearest", "pad", "ffill", "backfill", "bfill"}
            How to match a label that is not in the index (None: exact matches only).
        tolerance : optional
            The largest distance to an inexact match, e.g. ``"1D"`` for dates.
        **label
            One label on the series' dim, e.g. ``time="2024-06-01"``. A date given to the day
            (or the month) matches a time with hours and minutes on that day, as xarray and
            pandas match partial date strings. A slice or a list selects several slices.

        Returns
        -------
        RigidTransform or None or TransformSeries
            For one label: the fit of the slice it matches (None where that slice failed). For
            a slice or a list: a :class:`TransformSeries` of the slices selected.

        Raises
        ------
        KeyError
            When no slice matches, when a single label matches several slices (e.g. two
            scenes on one day: give the time, or a slice), or for another dim.

        Examples
        --------
        >>> import pandas as pd
        >>> times = pd.to_datetime(["2024-05-31T10:30", "2024-06-01T10:31", "2024-07-01T10:29"])
        >>> fits = tuple(RigidTransform(0.0, (float(i), 0.0)) for i in range(3))
        >>> series = TransformSeries("time", times, fits, ("", "", ""))
        >>> series.sel(time="2024-06-01").translation
        (1.0, 0.0)
        >>> series.sel(time="2024-06-20", method="nearest").translation
        (2.0, 0.0)
        >>> len(series.sel(time=slice("2024-06", "2024-07")))
        2
        """
        if len(label) != 1 or self.dim not in label:
            raise KeyError(f"select on the one dim {self.dim!r}, e.g. sel({self.dim}=...)")
        value = label[self.dim]
        positions = xr.DataArray(
            np.arange(len(self.fits)), dims=(self.dim,), coords={self.dim: self.index}
        )
        picked = positions.sel({self.dim: value}, method=method, tolerance=tolerance)
        where = np.ravel(picked.values).tolist()
        if picked.ndim == 0:
            return self.fits[where[0]]
        if not _is_scalar(value):
            return self._take(where)
        if len(where) == 1:  # a partial date string that matches one slice
            return self.fits[where[0]]
        labels = ", ".join(str(self.index[i]) for i in where[:5])
        raise KeyError(
            f"{self.dim}={value!r} matches {len(where)} slices ({labels}"
            f"{', ...' if len(where) > 5 else ''}): give the full label, or select a "
            f"TransformSeries of them with sel({self.dim}=[...]) or sel({self.dim}=slice(...))"
        )

    def _take(self, positions: list[int]) -> TransformSeries:
        """The series of the slices at ``positions``."""
        return TransformSeries(
            self.dim,
            self.index[positions],
            tuple(self.fits[i] for i in positions),
            tuple(self.errors[i] for i in positions),
        )

    @property
    def failed(self) -> list[Any]:
        """Labels of the slices that could not be registered.

        Examples
        --------
        >>> TransformSeries("time", [1, 2], (None, None), ("cloud", "cloud")).failed
        [1, 2]
        """
        return [label for label, fit in zip(self.index, self.fits, strict=True) if fit is None]

    # ----------------------------------------------------------------- tables
    def to_dataset(self) -> xr.Dataset:
        """The series as a Dataset along its dim, read back exactly by :meth:`from_dataset`.

        Returns
        -------
        xarray.Dataset
            Along the dim, each with its ``units`` and ``description`` attributes:

            - ``rotation_deg`` (degrees), ``tx``, ``ty`` (CRS units), ``shift_x_px``,
              ``shift_y_px`` (reference pixels; x east, y north), ``metric_before``,
              ``metric_after``, ``valid_fraction``;
            - ``rotation`` (radians), ``cx``, ``cy`` (the centre, CRS units): with ``tx`` and
              ``ty``, the fit itself;
            - ``crs`` (``"EPSG:…"`` or WKT), ``reliable``, ``error`` (why a slice failed),
              ``reference`` (the reference grid and nodata each fit was made against, as the
              JSON of ``RigidTransform.to_dict()["reference"]``) and ``diagnostics`` (each
              fit's diagnostics as JSON).

            A failed slice has NaN numbers, empty ``crs``, ``reference`` and ``diagnostics``,
            and its error.
            A fit without diagnostics has NaN in the pixel shifts and metrics.

        Examples
        --------
        >>> import pandas as pd
        >>> series = TransformSeries(
        ...     "time", pd.to_datetime(["2024-01-01", "2024-02-01"]),
        ...     (RigidTransform(0.0, (30.0, 0.0), crs="EPSG:32616"), None), ("", "cloud"),
        ... )
        >>> table = series.to_dataset()
        >>> table["tx"].values.tolist(), table["crs"].values.tolist(), table["tx"].units
        ([30.0, nan], ['EPSG:32616', ''], 'CRS units')
        >>> TransformSeries.from_dataset(table) == series
        True
        """
        numbers = [_numbers(fit) for fit in self.fits]
        data: dict[str, Any] = {}
        for name, (units, description) in PARAMETERS.items():
            values = np.array([row[name] for row in numbers], dtype=float)
            data[name] = (self.dim, values, {"units": units, "description": description})
        texts = {
            "crs": (
                [("" if f is None else _crs_text(f.crs) or "") for f in self.fits],
                "CRS of the fit's map coordinates (empty: none, or a failed slice)",
            ),
            "error": (list(self.errors), "why the slice could not be registered"),
            "reference": (
                [_json_field(f, "reference") for f in self.fits],
                "the fit's reference grid and nodata as JSON (empty: none, or a failed slice)",
            ),
            "diagnostics": (
                [_json_field(f, "diagnostics") for f in self.fits],
                "the fit's diagnostics as JSON (empty: none, or a failed slice)",
            ),
        }
        for name, (values, description) in texts.items():
            data[name] = (self.dim, np.array(values, dtype=object), {"description": description})
        data["reliable"] = (
            self.dim,
            np.array([_reliable(f) for f in self.fits], dtype=bool),
            {"description": "registered and passed the reliability checks"},
        )
        attrs = {
            "description": "xr_coregix TransformSeries: one rigid fit per slice "
            "(read back with TransformSeries.from_dataset)",
            "shift_axes": "x east, y north",
        }
        if hasattr(self.index, "unit"):  # netCDF reads times back in ns: keep their own unit
            attrs["index_unit"] = self.index.unit
        return xr.Dataset(data, coords={self.dim: self.index}, attrs=attrs)

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset) -> TransformSeries:
        """Rebuild a series from :meth:`to_dataset` output (also after ``to_netcdf``/``open``).

        Each fit is rebuilt from ``rotation`` (radians), ``tx``, ``ty``, ``cx``, ``cy``,
        ``crs``, ``reference`` and ``diagnostics``; a slice with NaN ``tx`` is a failed one
        (its ``error`` kept). The other variables are derived and not read: edit ``tx`` and
        ``ty`` (e.g. to smooth the shifts along time), not ``shift_x_px``.

        Parameters
        ----------
        dataset : xarray.Dataset
            One dim, and at least the variables ``rotation``, ``tx``, ``ty``, ``cx``, ``cy``.

        Returns
        -------
        TransformSeries

        Raises
        ------
        CoregError
            When a variable is missing, the variables are not along one dim, or a fit or its
            diagnostics cannot be read.

        Examples
        --------
        >>> import pandas as pd
        >>> series = TransformSeries("time", pd.to_datetime(["2024-01-01"]),
        ...                          (RigidTransform(0.1, (30.0, -15.0)),), ("",))
        >>> TransformSeries.from_dataset(series.to_dataset())[0].translation
        (30.0, -15.0)
        """
        import pandas as pd

        if not isinstance(dataset, xr.Dataset):
            raise CoregError(
                f"TransformSeries.from_dataset needs a Dataset (to_dataset() output), not a "
                f"{type(dataset).__name__}"
            )
        missing = [name for name in READ_BACK if name not in dataset.data_vars]
        if missing:
            raise CoregError(
                f"TransformSeries.from_dataset: no {', '.join(map(repr, missing))} variable in "
                f"{sorted(map(str, dataset.data_vars))} (expected to_dataset() output)"
            )
        dims = {dataset[name].dims for name in READ_BACK}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise CoregError(
                f"TransformSeries.from_dataset: {', '.join(READ_BACK)} must run along one and "
                f"the same dim, not {sorted(map(str, dims))}"
            )
        ((dim,),) = dims
        size = dataset.sizes[dim]
        if dim in dataset.indexes:
            index = dataset.indexes[dim]
        else:
            index = pd.RangeIndex(size, name=dim)
        unit = dataset.attrs.get("index_unit")
        if unit is not None and isinstance(index, pd.DatetimeIndex) and index.unit != unit:
            index = index.as_unit(str(unit))
        column = {name: dataset[name].values for name in READ_BACK}
        blank = np.full(size, "", dtype=object)
        crs = dataset["crs"].values if "crs" in dataset else blank
        texts = {
            name: dataset[name].values if name in dataset else blank
            for name in ("reference", "diagnostics")
        }
        errors = dataset["error"].values if "error" in dataset else blank
        fits = []
        for i in range(size):
            if math.isnan(float(column["tx"][i])):
                fits.append(None)
                continue
            fit = {name: float(column[name][i]) for name in READ_BACK}
            fits.append(
                RigidTransform.from_dict(
                    {
                        "rotation": fit["rotation"],
                        "translation": [fit["tx"], fit["ty"]],
                        "center": [fit["cx"], fit["cy"]],
                        "crs": str(crs[i]) or None,
                        **{
                            name: _from_json(str(column_texts[i]), name, f"{dim}={index[i]}")
                            for name, column_texts in texts.items()
                        },
                    }
                )
            )
        return cls(dim, index, tuple(fits), tuple("" if e is None else str(e) for e in errors))

    def to_dataframe(self) -> pd.DataFrame:
        """One row per slice: the shift, rotation, metric and reliability of its fit.

        Returns
        -------
        pandas.DataFrame
            Indexed by the series' dim (the dates), with the columns ``shift_x_px``,
            ``shift_y_px`` (reference pixels; x east, y north, as the repr shows them), ``tx``,
            ``ty`` (CRS units), ``rotation_deg`` (degrees counter-clockwise),
            ``metric_before``, ``metric_after`` (lower is better), ``valid_fraction``,
            ``error_bound_px`` (reference pixels the fit's error stays within in 9 of 10
            cases: ``diagnostics.error_bound``), ``reliable`` (False for a failed slice or an unreliable fit) and ``reason`` (why
            it failed, or the checks an unreliable fit failed; empty otherwise). Numbers a
            slice lacks are NaN.

        Examples
        --------
        >>> import pandas as pd
        >>> series = TransformSeries(
        ...     "time", pd.to_datetime(["2024-01-01", "2024-02-01"]),
        ...     (RigidTransform(0.0, (30.0, -15.0)), None), ("", "all cloud"),
        ... )
        >>> table = series.to_dataframe()
        >>> table["tx"].tolist(), table["reliable"].tolist(), table["reason"].tolist()
        ([30.0, nan], [True, False], ['', 'all cloud'])
        """
        import pandas as pd

        numbers = [_numbers(fit) for fit in self.fits]
        columns: dict[str, Any] = {
            name: np.array([row[name] for row in numbers], dtype=float) for name in TABLE_COLUMNS
        }
        columns["reliable"] = np.array([_reliable(f) for f in self.fits], dtype=bool)
        columns["reason"] = pd.Series(
            [_reason(f, e) for f, e in zip(self.fits, self.errors, strict=True)], dtype="str"
        ).to_numpy()
        return pd.DataFrame(columns, index=self.index)

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the dim, its index, each fit's :meth:`RigidTransform.to_dict`
        (None for a failed slice) and the errors.

        Raises
        ------
        CoregError
            For an index whose labels JSON cannot hold (not dates, numbers or strings), or a
            dim that is not a string or an integer.

        Examples
        --------
        >>> import pandas as pd
        >>> times = pd.DatetimeIndex(["2024-06-01T10:31:02"]).as_unit("s")
        >>> series = TransformSeries("time", times, (None,), ("all cloud",))
        >>> series.to_dict()["index"]
        {'kind': 'datetime', 'unit': 's', 'tz': None, 'values': ['2024-06-01T10:31:02']}
        """
        if not isinstance(self.dim, str | int):
            raise CoregError(
                f"TransformSeries.to_dict: the dim {self.dim!r} is not a string: JSON cannot "
                "hold it"
            )
        return {
            "type": "series",
            "dim": self.dim,
            "index": _index_to_dict(self.index),
            "fits": [None if fit is None else fit.to_dict() for fit in self.fits],
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformSeries:
        """Rebuild a series from :meth:`to_dict` output.

        Raises
        ------
        CoregError
            When ``data`` is not such a dict (a missing field, another ``type``, an index or a
            fit that cannot be read).

        Examples
        --------
        >>> series = TransformSeries("time", [0, 1], (RigidTransform(0.0, (1.0, 2.0)), None),
        ...                          ("", "cloud"))
        >>> TransformSeries.from_dict(series.to_dict()) == series
        True
        """
        if not isinstance(data, dict) or data.get("type") != "series":
            raise CoregError(
                "TransformSeries.from_dict needs to_dict() output: a dict with type='series'"
            )
        missing = [key for key in ("dim", "index", "fits", "errors") if key not in data]
        if missing:
            raise CoregError(
                f"TransformSeries.from_dict: no {', '.join(map(repr, missing))} field in "
                f"{sorted(map(str, data))} (expected to_dict() output)"
            )
        index = _index_from_dict(data["index"])
        fits = tuple(None if fit is None else RigidTransform.from_dict(fit) for fit in data["fits"])
        return cls(data["dim"], index, fits, tuple(data["errors"]))

    def to_json(self, **kwargs: Any) -> str:
        """The series as JSON text (keyword arguments go to :func:`json.dumps`).

        Examples
        --------
        >>> TransformSeries("time", [0], (None,), ("cloud",)).to_json()[:33]
        '{"type": "series", "dim": "time",'
        """
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> TransformSeries:
        """Rebuild a series from :meth:`to_json` output.

        Examples
        --------
        >>> series = TransformSeries("time", [0], (None,), ("cloud",))
        >>> TransformSeries.from_json(series.to_json()).errors
        ('cloud',)
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise CoregError(f"TransformSeries.from_json: the text is not JSON ({err})") from err
        return cls.from_dict(data)

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        ok = sum(f is not None for f in self.fits)
        return f"TransformSeries({len(self.fits)} along {self.dim!r}, {ok} registered)"

    def _repr_html_(self) -> str:
        """A table of the fits (Jupyter), in the wording of each fit's own repr."""
        head = [str(self.dim), f"shift {SHIFT_AXES}", f"shift in reference pixels {SHIFT_AXES}",
                "rotation", "metric (lower is better)", "reliable", "reason"]  # fmt: skip
        count = len(self.fits)
        half = HTML_ROWS // 2
        shown: list[int | None] = list(range(count))
        if count > HTML_ROWS:
            shown = [*range(half), None, *range(count - half, count)]
        rows = []
        for i in shown:
            if i is None:
                rows.append([f"... {count - 2 * half} more ..."] + [""] * (len(head) - 1))
                continue
            fit, reason = self.fits[i], _reason(self.fits[i], self.errors[i])
            if fit is None:
                rows.append([str(self.index[i]), "", "", "", "", "failed", reason])
                continue
            crs_units, pixels = shift_text(fit)
            diag = fit.diagnostics
            rows.append([
                str(self.index[i]), crs_units, pixels or "", rotation_text(fit),
                "" if diag is None else metric_text(diag),
                "yes" if _reliable(fit) else "UNRELIABLE", reason,
            ])  # fmt: skip
        cell = "<td style='text-align:left'>{}</td>"
        body = "".join(
            "<tr>" + "".join(cell.format(html.escape(text)) for text in row) + "</tr>"
            for row in rows
        )
        header = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in head)
        caption = html.escape(repr(self))
        return (
            f"<table class='xr-coregix'><caption>{caption}</caption><tr>{header}</tr>{body}</table>"
        )


def _json_field(fit: RigidTransform | None, name: str) -> str:
    """A field of ``fit.to_dict()`` as JSON text, empty when it is None (or there is no fit)."""
    value = None if fit is None else fit.to_dict()[name]
    return "" if value is None else json.dumps(value)


def _from_json(text: str, name: str, where: str) -> Any:
    """What :func:`_json_field` wrote (None for empty text)."""
    try:
        return json.loads(text) if text else None
    except ValueError as err:
        raise CoregError(
            f"TransformSeries.from_dataset: the {name} of {where} cannot be read as JSON ({err})"
        ) from err


def _index_to_dict(index: pd.Index) -> dict[str, Any]:
    """The index as JSON-ready values that :func:`_index_from_dict` reads back exactly."""
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step}
    if isinstance(index, pd.DatetimeIndex):
        tz = None if index.tz is None else str(index.tz)
        naive = index if index.tz is None else index.tz_convert("UTC").tz_localize(None)
        values = np.datetime_as_string(naive.values, unit=index.unit).tolist()
        return {"kind": "datetime", "unit": index.unit, "tz": tz, "values": values}
    values = index.tolist()
    if not all(v is None or isinstance(v, str | int | float) for v in values):
        raise CoregError(
            f"TransformSeries.to_dict: the {index.name!r} labels ({index.dtype}) are not dates, "
            "numbers or strings: JSON cannot hold them"
        )
    return {"kind": "values", "dtype": str(index.dtype), "values": values}


def _index_from_dict(data: dict[str, Any]) -> pd.Index:
    """The index that :func:`_index_to_dict` wrote."""
    import pandas as pd

    try:
        kind = data["kind"]
        if kind == "range":
            return pd.RangeIndex(data["start"], data["stop"], data["step"])
        if kind == "datetime":
            values = np.array(data["values"], dtype=f"datetime64[{data['unit']}]")
            index = pd.DatetimeIndex(values)
            return index if data["tz"] is None else index.tz_localize("UTC").tz_convert(data["tz"])
        if kind == "values":
            return pd.Index(data["values"], dtype=data["dtype"])
    except (KeyError, TypeError, ValueError) as err:
        raise CoregError(
            f"TransformSeries.from_dict: the index cannot be read ({type(err).__name__}: {err})"
        ) from err
    raise CoregError(f"TransformSeries.from_dict: index kind={kind!r}, expected to_dict() output")
