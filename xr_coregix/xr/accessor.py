"""The ``.coreg`` accessor on DataArray and Dataset: plain functions bound to the object.

``obj.coreg.register(...)`` is :func:`xr_coregix.register` with ``moving=obj``, and
``obj.coreg.apply(fit, ...)`` is :func:`xr_coregix.apply`, with their own signatures and docs
(as odc-geo binds its functions). The one thing the accessor keeps is the last fit made through
it, so that ``obj.coreg.apply(grid=...)`` works on the same object (DESIGN.md's contract);
xarray makes a new object, and a new accessor, for every ``ds["red"]`` and ``.chunk()``, so
passing the fit is the form that always works.

The functions are bound when first looked up, not when the package is imported: they need
SimpleITK, dask and rioxarray, which ``import xr_coregix`` does not load.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import xarray as xr

from ..core.transform import RigidTransform
from ..errors import CoregError
from .series import TransformSeries


def _function(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module, __package__), name)


def _bound(func: Callable[..., Any], *, optional_second: bool = False) -> Callable[..., Any]:
    """``func`` as a method of the accessor: its first argument is the accessor's object; its
    signature (without that argument) and docstring are ``func``'s. ``optional_second``: the
    second argument (``apply``'s fit) defaults to None, the last fit made through the accessor."""
    signature = inspect.signature(func)
    first, *rest = signature.parameters.values()
    if optional_second:
        rest[0] = rest[0].replace(default=None)

    @functools.wraps(func)
    def method(self: CoregAccessor, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, f"_{func.__name__}")(*args, **kwargs)

    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(parameters=[self_param, *rest])  # type: ignore[attr-defined]
    method.__doc__ = f"``{func.__name__}`` with ``{first.name}`` this object.\n\n{func.__doc__}"
    return method


class _Bound:
    """A method of the accessor made by :func:`_bound` from ``module.name`` when first looked
    up (on the class, the method itself: ``help`` and ``inspect`` see the real signature)."""

    def __init__(self, module: str, name: str, *, optional_second: bool = False) -> None:
        self._where = module, name
        self._optional_second = optional_second

    @functools.cached_property
    def method(self) -> Callable[..., Any]:
        return _bound(_function(*self._where), optional_second=self._optional_second)

    def __get__(self, obj: Any, owner: type | None = None) -> Callable[..., Any]:
        return self.method if obj is None else self.method.__get__(obj, owner)


class CoregAccessor:
    """``obj.coreg``: register ``obj`` (the moving raster) to a reference and apply the fit.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = moving.coreg.register(fixed)
    >>> aligned = moving.coreg.apply(fit, grid="reference")
    >>> aligned.shape == fixed.shape
    True
    """

    def __init__(self, obj: xr.DataArray | xr.Dataset) -> None:
        self._obj = obj
        self._fit: RigidTransform | TransformSeries | None = None

    @property
    def fit(self) -> RigidTransform | TransformSeries | None:
        """The last fit made through this accessor (this very object), or None.

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> moving.coreg.fit is None
        True
        """
        return self._fit

    def _register(self, fixed: xr.DataArray | xr.Dataset, *args: Any, **kwargs: Any) -> Any:
        fit = _function(".register", "register")(self._obj, fixed, *args, **kwargs)
        if isinstance(fit, RigidTransform | TransformSeries):  # not a lazy one (compute=False)
            self._fit = fit
        return fit

    def _apply(
        self, fit: RigidTransform | TransformSeries | None = None, *args: Any, **kwargs: Any
    ) -> xr.DataArray | xr.Dataset:
        fit = fit if fit is not None else self._fit
        if fit is None:
            raise CoregError(
                "apply() needs a fit: pass it, obj.coreg.apply(fit, grid=...), or call "
                "obj.coreg.register(fixed) on this same object first. xarray makes a new object, "
                'with a new accessor, for every ds["red"] and .chunk(): keep the fit register '
                "returns and pass it"
            )
        return _function(".warp", "apply")(self._obj, fit, *args, **kwargs)

    register = _Bound(".register", "register")
    apply = _Bound(".warp", "apply", optional_second=True)


def register_accessors() -> None:
    """Register ``.coreg`` on :class:`xarray.DataArray` and :class:`xarray.Dataset` (idempotent)."""
    if "coreg" not in xr.DataArray.__dict__:
        xr.register_dataarray_accessor("coreg")(CoregAccessor)
    if "coreg" not in xr.Dataset.__dict__:
        xr.register_dataset_accessor("coreg")(CoregAccessor)
