"""The options of ``register`` and ``apply``, each checked once, when the call is made.

One frozen dataclass a function holds its options (not the rasters nor the masks: those are
data), and its ``__post_init__`` refuses a bad value with a :class:`~xr_coregix.CoregError` that
names the argument and says what to pass. What needs the data to be checked (a band that exists,
a nodata value the dtype can hold, a split factor the overlap allows) is checked where the data
is read.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from odc.geo.geobox import GeoBox

from ..errors import CoregError
from ..options import (
    CLOUD_SIDES,
    GRIDS,
    ON_FAILURES,
    RESAMPLINGS,
    STAGES,
    CloudSide,
    Grid,
    OnFailure,
    Resampling,
    Stage,
)

MAX_DILATION = 100  # reference pixels: beyond it a dilation would swallow the raster


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _is_whole(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _check_nodata(value: Any, name: str, default: str) -> None:
    """Refuse an optional nodata value that is not a number (NaN is one)."""
    if value is not None and not _is_number(value):
        raise CoregError(f"{name}={value!r} must be a number, or None for {default}")


def _stages(value: Any) -> tuple[Stage, ...]:
    stages = () if isinstance(value, str) or not isinstance(value, Sequence) else tuple(value)
    if not stages or tuple(s for s in STAGES if s in stages) != stages:
        raise CoregError(
            f"stages={value!r}: pass ('translation', 'rigid'), ('translation',) or ('rigid',)"
        )
    return stages


def _cloud_guard(value: Any) -> bool | CloudSide:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value in CLOUD_SIDES:
        return value  # type: ignore[return-value]
    raise CoregError(
        f"cloud_guard={value!r}: pass True (or 'auto'), 'bright' (reflective bands), 'cold' "
        "(thermal bands) or False"
    )


@dataclass(frozen=True)
class RegisterOptions:
    """The options of :func:`~xr_coregix.register`, checked: each field as ``register``
    documents it (its signature holds the defaults). Built once by ``register`` and by
    ``align_image_pair``, and handed down to the solves and to every date's task of a cube.

    Raises
    ------
    CoregError
        For a value a field does not take, naming the argument and what to pass.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> xr_coregix.register(moving, fixed, max_shift=0, compute=False)  # before any task is made
    Traceback (most recent call last):
    ...
    xr_coregix.errors.CoregError: max_shift=0 must be a positive number of pixels
    """

    moving_band: int | Hashable
    fixed_band: int | Hashable
    edge_proxy: bool
    stages: tuple[Stage, ...]
    moving_nodata: float | None
    fixed_nodata: float | None
    min_valid_fraction: float
    solve_resolution: float | None
    split_factor: int | None
    max_shift: float
    on_failure: OnFailure
    mask_dilation: int
    cloud_guard: bool | CloudSide

    def __post_init__(self) -> None:
        _check_nodata(self.moving_nodata, "moving_nodata", "the metadata's")
        _check_nodata(self.fixed_nodata, "fixed_nodata", "the metadata's")
        checked = {"stages": _stages(self.stages), "cloud_guard": _cloud_guard(self.cloud_guard)}
        if not isinstance(self.edge_proxy, (bool, np.bool_)):
            raise CoregError(
                f"edge_proxy={self.edge_proxy!r}: pass True (edge proxies) or False (raw values)"
            )
        checked["edge_proxy"] = bool(self.edge_proxy)
        fraction = self.min_valid_fraction
        if not (_is_number(fraction) and 0.0 <= fraction <= 1.0):
            raise CoregError(f"min_valid_fraction={fraction!r} must be a number between 0 and 1")
        checked["min_valid_fraction"] = float(fraction)
        size = self.solve_resolution
        if size is not None:
            if not (_is_number(size) and 0 < size < math.inf):
                raise CoregError(
                    f"solve_resolution={size!r} must be a positive pixel size in CRS units"
                )
            checked["solve_resolution"] = float(size)
        split = self.split_factor
        if split is not None:
            if not (_is_whole(split) and split >= 0):
                raise CoregError(f"split_factor={split!r} must be a whole number, 0 or more")
            checked["split_factor"] = int(split)
        if not (_is_number(self.max_shift) and self.max_shift > 0):
            raise CoregError(f"max_shift={self.max_shift!r} must be a positive number of pixels")
        checked["max_shift"] = float(self.max_shift)
        if self.on_failure not in ON_FAILURES:
            raise CoregError(f"on_failure={self.on_failure!r}: pass 'raise' or 'warn'")
        dilation = self.mask_dilation
        if not (_is_whole(dilation) and 0 <= dilation <= MAX_DILATION):
            raise CoregError(
                f"mask_dilation={dilation!r} must be a whole number of reference pixels from 0 "
                f"to {MAX_DILATION}"
            )
        checked["mask_dilation"] = int(dilation)
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class ApplyOptions:
    """The options of :func:`~xr_coregix.apply`, checked (each field as ``apply`` documents
    it), so that a bad one is refused when ``apply`` is called, not when the lazy result is
    computed.

    Raises
    ------
    CoregError
        For a grid other than the three names or a GeoBox, a resampling GDAL's warp does not
        know, an output nodata that is not a number.

    Examples
    --------
    >>> ApplyOptions(grid="reference", resampling="Nearest", output_nodata=0).resampling
    'nearest'
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.RigidTransform(0.0, (30.0, 0.0), crs=moving.rio.crs)
    >>> lazy = xr_coregix.apply(moving.chunk(), fit, resampling="bicubic")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xr_coregix.errors.CoregError: resampling='bicubic': choose one of nearest, bilinear, cubic, ...
    """

    grid: Grid | GeoBox
    resampling: Resampling
    output_nodata: float | None

    def __post_init__(self) -> None:
        if not (
            isinstance(self.grid, GeoBox) or (isinstance(self.grid, str) and self.grid in GRIDS)
        ):
            raise CoregError(f"grid={self.grid!r}: choose one of {GRIDS} or pass a GeoBox")
        method = self.resampling
        if not (isinstance(method, str) and method.lower() in RESAMPLINGS):
            raise CoregError(f"resampling={method!r}: choose one of {', '.join(RESAMPLINGS)}")
        object.__setattr__(self, "resampling", method.lower())
        _check_nodata(
            self.output_nodata,
            "output_nodata",
            "the source's nodata (else the reference's, else 0)",
        )


__all__ = ["ApplyOptions", "RegisterOptions"]
