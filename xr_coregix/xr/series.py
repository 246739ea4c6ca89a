"""Fits along a time dim: a datacube's slices registered one by one against one reference."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..core.transform import RigidTransform


def series_dim(obj: xr.DataArray | xr.Dataset, spatial: tuple[str, str]) -> Hashable | None:
    """The dim of ``obj`` that orders observations: ``time``, or a dim of datetimes."""
    for dim in obj.dims:
        if dim in spatial:
            continue
        if dim == "time" or (dim in obj.coords and np.issubdtype(obj[dim].dtype, np.datetime64)):
            return dim
    return None


PARAMETERS = ("rotation_deg", "tx", "ty", "shift_x_px", "shift_y_px", "metric_before",
              "metric_after", "valid_fraction")  # fmt: skip


def _parameters(fit: RigidTransform | None) -> list[float]:
    """The values of ``PARAMETERS`` for one fit (NaN for a missing fit or diagnostic)."""
    if fit is None:
        return [np.nan] * len(PARAMETERS)
    diag = fit.diagnostics
    if diag is None:
        return [fit.rotation_degrees, *fit.translation] + [np.nan] * 5
    tx, ty = fit.translation
    return [fit.rotation_degrees, tx, ty, tx / diag.pixel_size, ty / diag.pixel_size,
            diag.metric_before, diag.metric_after, diag.valid_fraction]  # fmt: skip


@dataclass(frozen=True)
class TransformSeries:
    """One fit per slice of a datacube, indexed like the cube's time coordinate.

    Attributes
    ----------
    dim : hashable
        The dim the fits run along (``"time"``).
    index : pandas.Index
        Its coordinate values.
    fits : tuple of RigidTransform or None
        The fit of each slice; None where the slice could not be registered.
    errors : tuple of str
        Why a slice could not be registered; empty where it was.

    Examples
    --------
    >>> series = TransformSeries(
    ...     "time",
    ...     pd.Index(pd.to_datetime(["2024-01-01", "2024-02-01"]), name="time"),
    ...     (RigidTransform(0.0, (30.0, 0.0)), None),
    ...     ("", "cloud"),
    ... )
    >>> series.sel(time="2024-01-01").translation
    (30.0, 0.0)
    >>> series.to_dataset()["tx"].values.tolist()
    [30.0, nan]
    """

    dim: Hashable
    index: pd.Index
    fits: tuple[RigidTransform | None, ...]
    errors: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.fits)

    def __iter__(self) -> Iterator[RigidTransform | None]:
        return iter(self.fits)

    def __getitem__(self, position: int) -> RigidTransform | None:
        """The fit at a position along the dim."""
        return self.fits[position]

    def sel(self, **label: Any) -> RigidTransform | None:
        """The fit at a coordinate label, e.g. ``series.sel(time="2024-01-01")``."""
        (dim, value), *rest = label.items()
        if rest or dim != self.dim:
            raise KeyError(f"select on the one dim {self.dim!r}, e.g. sel({self.dim}=...)")
        return self.fits[self.index.get_loc(pd.Index([value]).astype(self.index.dtype)[0])]

    @property
    def failed(self) -> list[Any]:
        """Labels of the slices that could not be registered.

        Examples
        --------
        >>> TransformSeries("time", pd.Index([1, 2]), (None, None), ("cloud", "cloud")).failed
        [1, 2]
        """
        return [label for label, fit in zip(self.index, self.fits, strict=True) if fit is None]

    def to_dataset(self) -> xr.Dataset:
        """The parameters along the dim: rotation (degrees), translation (CRS units and
        reference pixels), metric before/after and valid fraction; NaN where a slice failed."""
        rows = [_parameters(fit) for fit in self.fits]
        table = np.array(rows, dtype=float).reshape(len(self.fits), len(PARAMETERS))
        data = {name: (self.dim, table[:, i]) for i, name in enumerate(PARAMETERS)}
        data["error"] = (self.dim, np.array(self.errors, dtype=object))
        return xr.Dataset(data, coords={self.dim: self.index.values})

    def __repr__(self) -> str:
        ok = sum(f is not None for f in self.fits)
        return f"TransformSeries({len(self.fits)} along {self.dim!r}, {ok} registered)"
