"""The ``.coreg`` accessor on DataArray and Dataset: a thin binding of register and apply."""

from __future__ import annotations

from typing import Any

import xarray as xr
from dask.delayed import Delayed

from ..core.transform import RigidTransform
from ..errors import CoregError
from .cube import LazyTransformSeries
from .register import register
from .series import TransformSeries
from .warp import apply


class CoregAccessor:
    """``obj.coreg``: register ``obj`` (the moving raster) to a reference and apply the fit.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = moving.coreg.register(fixed)
    >>> aligned = moving.coreg.apply(grid="reference")
    >>> aligned.shape == fixed.shape
    True
    """

    def __init__(self, obj: xr.DataArray | xr.Dataset) -> None:
        self._obj = obj
        self._fit: RigidTransform | TransformSeries | None = None

    @property
    def fit(self) -> RigidTransform | TransformSeries | None:
        """The last fit made through this accessor, or None.

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> moving.coreg.fit is None
        True
        """
        return self._fit

    def register(
        self, fixed: xr.DataArray | xr.Dataset, *, compute: bool = True, **kwargs: Any
    ) -> RigidTransform | TransformSeries | LazyTransformSeries | Delayed:
        """Fit this raster to ``fixed``; see :func:`xr_coregix.register` for the arguments.

        The fit is also kept, so that :meth:`apply` can be called without it (not a lazy one,
        ``compute=False``: compute it, and pass the result to :meth:`apply`).

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> fit = moving.coreg.register(fixed, stages=("translation",))
        >>> fit.rotation
        0.0
        """
        fit = register(self._obj, fixed, compute=compute, **kwargs)
        if compute:
            self._fit = fit
        return fit

    def apply(
        self, fit: RigidTransform | TransformSeries | None = None, **kwargs: Any
    ) -> xr.DataArray | xr.Dataset:
        """Warp this raster by ``fit`` (default: the last fit made here).

        See :func:`xr_coregix.apply` for the arguments.

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> _ = moving.coreg.register(fixed)
        >>> moving.coreg.apply(grid="native").shape == moving.shape
        True
        """
        fit = fit if fit is not None else self._fit
        if fit is None:
            raise CoregError(
                "apply() needs a fit: call .coreg.register(fixed) on this object first, or pass "
                "fit=RigidTransform (e.g. RigidTransform.from_json(text))"
            )
        return apply(self._obj, fit, **kwargs)


def register_accessors() -> None:
    """Register ``.coreg`` on :class:`xarray.DataArray` and :class:`xarray.Dataset` (idempotent)."""
    if "coreg" not in xr.DataArray.__dict__:
        xr.register_dataarray_accessor("coreg")(CoregAccessor)
    if "coreg" not in xr.Dataset.__dict__:
        xr.register_dataset_accessor("coreg")(CoregAccessor)
