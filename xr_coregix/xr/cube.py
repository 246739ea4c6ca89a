"""Datacubes: the per-date fits of a ``(time, y, x)`` cube as independent dask tasks.

Each date of a cube is registered against the reference in a task of its own: on the active
``dask.distributed`` client when there is one, on dask's threaded scheduler otherwise (or on
whatever scheduler ``dask.config`` names). A task reads only its date (and the reference's
windows it needs), so memory follows the dates running at once, not the length of the cube.

Inside a date's task, the reads and the chunk solves of that date run one after the other in
the task's own thread, with SimpleITK on one thread
(:func:`xr_coregix.core.levels.single_threaded_itk`): parallelism comes from dates running side
by side, and a cluster's worker never waits on tasks of its own date that other workers would
have to run. Fits are the same whichever scheduler and however many workers run them.

``register(cube, reference, compute=False)`` returns a :class:`LazyTransformSeries`: the graph
of these tasks, which computes to the :class:`~xr_coregix.TransformSeries`.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import dask
import xarray as xr
from dask.base import get_scheduler, is_dask_collection
from dask.delayed import Delayed

from ..core.levels import single_threaded_itk
from ..core.transform import RigidTransform
from ..errors import (
    InsufficientValidDataError,
    NoOverlapError,
    NoStructureError,
    RegistrationError,
    warn_caller,
)
from .arguments import RegisterOptions
from .exclude import MaskArg
from .series import TransformSeries

if TYPE_CHECKING:
    import pandas as pd

DATE_ERRORS = (InsufficientValidDataError, NoOverlapError, NoStructureError, RegistrationError)
"""Why a date gets no fit (recorded in the series); any other error ends the registration."""

Masks = tuple[MaskArg, MaskArg]
"""The moving and the fixed mask arguments of ``register``."""

Outcome = tuple[RigidTransform | None, str]
"""A date's task result: its fit (None when it has none) and why it has none."""


class _Held:
    """A value a task receives as it is: dask does not look into it, so a lazy raster inside
    reaches the task lazily (instead of being computed into an array first)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __getstate__(self) -> tuple[Any]:
        return (self.value,)

    def __setstate__(self, state: tuple[Any]) -> None:
        (self.value,) = state


_LOCAL_LOCK = threading.Lock()
_LOCAL_USERS = 0
_LOCAL_CONFIG: Any = None


@contextmanager
def local_compute() -> Iterator[None]:
    """Compute nested dask collections synchronously, in the calling thread, for the duration
    (re-entrant across threads: set while any date's task runs, restored after the last).

    Inside a task on a ``dask.distributed`` worker, a ``compute`` would otherwise go to the
    cluster, the task would secede and its worker start more dates than it has threads: the
    memory of the dates running at once would no longer be bounded by the threads. dask's
    configuration is process-wide: while dates run on the threaded scheduler, any other
    ``compute`` started in this process without a scheduler of its own runs synchronously too.
    """
    global _LOCAL_USERS, _LOCAL_CONFIG
    with _LOCAL_LOCK:
        if _LOCAL_USERS == 0:
            _LOCAL_CONFIG = dask.config.set(scheduler="sync")
        _LOCAL_USERS += 1
    try:
        yield
    finally:
        with _LOCAL_LOCK:
            _LOCAL_USERS -= 1
            if _LOCAL_USERS == 0:
                _LOCAL_CONFIG.__exit__(None, None, None)
                _LOCAL_CONFIG = None


def _lean(obj: Any) -> Any:
    """``obj`` with its dask graph culled to what it needs (a date of a cube otherwise carries
    the graph of every date into its task)."""
    if obj is None or not is_dask_collection(obj):
        return obj
    (culled,) = dask.optimize(obj)
    return culled


def _on_cluster(obj: Any) -> bool:
    """Whether ``obj`` is held on a ``dask.distributed`` cluster (persisted there: futures in
    its graph), which a task cannot read with a local scheduler."""
    if obj is None or "distributed" not in sys.modules or not is_dask_collection(obj):
        return False
    from distributed import Future

    return any(isinstance(v, Future) for v in dict(obj.__dask_graph__()).values())


def _chunks(obj: xr.DataArray | xr.Dataset) -> dict | None:
    try:
        return dict(obj.chunksizes)
    except ValueError:  # variables of a Dataset chunked differently: kept in memory
        return None


def _ship(obj: Any, persisted: bool) -> Any:
    """``obj`` as a task takes it: held as it is (lazy, its graph culled) or, when it is held
    on a cluster, a dependency that dask computes into the task, with its chunks, so that the
    task gives it back the same chunks (and the same fit)."""
    if not persisted or obj is None or not is_dask_collection(obj):
        return _Held(_lean(obj))
    return obj, _chunks(obj)


def _received(arg: Any) -> Any:
    """What :func:`_ship` sent, as it was."""
    if isinstance(arg, _Held):
        return arg.value
    value, chunks = arg
    return value if chunks is None else value.chunk(chunks)


def _local(obj: Any) -> Any:
    """``obj``, read into this process (with the same chunks) when it is held on a cluster."""
    if not _on_cluster(obj):
        return _lean(obj)
    chunks = _chunks(obj)
    value = obj.compute()
    return value if chunks is None else value.chunk(chunks)


def fit_date(shared: _Held, moving: Any, mask: Any) -> Outcome:
    """A date's task: register it against the reference, in this thread.

    ``shared`` holds ``(fixed, options, masks)`` (:func:`_shared`), ``moving`` is the date's
    raster and ``mask`` its own mask (None: the moving mask of ``masks``), as :func:`_ship`
    sent them. A date that cannot be registered gets no fit and its reason; other errors are
    raised.
    """
    from .register import register_with

    fixed, options, (moving_mask, fixed_mask) = shared.value
    moving, mask = _received(moving), _received(mask)
    if mask is not None:
        moving_mask = mask
    with local_compute(), single_threaded_itk():
        try:
            fit = register_with(moving, fixed, options, moving_mask, fixed_mask, threads=1)
        except DATE_ERRORS as err:
            return None, str(err)
    return fit, ""


def fit_pair(shared: _Held, moving: Any) -> RigidTransform:
    """The task of a lazy single-pair registration: its fit, or its error raised."""
    from .register import register_with

    fixed, options, masks = shared.value
    with local_compute(), single_threaded_itk():
        return register_with(_received(moving), fixed, options, *masks, threads=1)


def _assemble(dim: Hashable, index: pd.Index, outcomes: list[Outcome]) -> TransformSeries:
    fits = tuple(fit for fit, _ in outcomes)
    return TransformSeries(dim, index, fits, tuple(error for _, error in outcomes))


def _fit_of(outcome: Outcome) -> RigidTransform | None:
    return outcome[0]


def _fit_at(series: TransformSeries, position: int) -> RigidTransform | None:
    return series.fits[position]


def _shared(fixed: xr.DataArray | xr.Dataset, options: RegisterOptions, masks: Masks) -> Any:
    """The reference, the options and the masks, as every date's task receives them.

    With a ``dask.distributed`` client active, they are scattered to every worker once (a
    dependency held by one worker would draw every date's task to that worker); otherwise
    each task refers to the same object in this process.
    """
    held = _Held((_local(fixed), options, tuple(_local(mask) for mask in masks)))
    client = _cluster_client(None, [])
    if client is None:
        return held
    return client.scatter(held, broadcast=True, hash=False)


def delayed_fit(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    options: RegisterOptions,
    masks: Masks,
) -> Delayed:
    """The registration of a single pair as one dask task (``register(..., compute=False)``)."""
    token = uuid.uuid4().hex
    shared = _shared(fixed, options, masks)
    task = dask.delayed(fit_pair, pure=False)
    date = _ship(moving, _on_cluster(moving))
    return task(shared, date, dask_key_name=f"coreg-fit-{token}")


def lazy_series(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    dim: Hashable,
    options: RegisterOptions,
    masks: Masks,
) -> LazyTransformSeries:
    """One task per slice of ``moving`` along ``dim`` (a moving mask with ``dim`` taken slice
    by slice), and one that gathers their fits into a :class:`TransformSeries`."""
    import pandas as pd

    token = uuid.uuid4().hex
    mask, fixed_mask = masks
    by_date = isinstance(mask, xr.DataArray) and dim in mask.dims
    shared = _shared(fixed, options, (None if by_date else mask, fixed_mask))
    size = moving.sizes[dim]
    task = dask.delayed(fit_date, pure=False)
    persisted = _on_cluster(moving), by_date and _on_cluster(mask)
    outcomes = []
    for i in range(size):
        date = _ship(moving.isel({dim: i}), persisted[0])
        date_mask = _ship(mask.isel({dim: i}) if by_date else None, persisted[1])
        outcomes.append(task(shared, date, date_mask, dask_key_name=f"coreg-fit-{token}-{i}"))
    index = moving.indexes[dim] if dim in moving.indexes else pd.RangeIndex(size, name=dim)
    series = dask.delayed(_assemble, pure=False)(
        dim, index, outcomes, dask_key_name=f"coreg-series-{token}"
    )
    fits = tuple(
        dask.delayed(_fit_of, pure=False)(o, dask_key_name=f"coreg-date-{token}-{i}")
        for i, o in enumerate(outcomes)
    )
    return LazyTransformSeries(dim, index, series, fits)


def _cluster_client(scheduler: Any, collections: list[Any]) -> Any:
    """The ``dask.distributed`` client a compute with ``scheduler`` would run on, or None."""
    get = get_scheduler(scheduler=scheduler, collections=collections)
    owner = getattr(get, "__self__", None)
    return owner if type(owner).__name__ == "Client" else None


def warn_unreliable(series: TransformSeries) -> None:
    """Warn, in this process, of each fit flagged unreliable (``on_failure="warn"``): fits
    made on a cluster warned in the workers' logs, which a notebook does not show."""
    for label, fit in zip(series.index, series.fits, strict=True):
        if fit is not None and fit.diagnostics is not None and not fit.diagnostics.reliable:
            warn_caller(
                f"unreliable fit for {series.dim}={label}: " + "; ".join(fit.diagnostics.problems)
            )


def compute_series(lazy: LazyTransformSeries, **kwargs: Any) -> TransformSeries:
    """``lazy`` computed (``kwargs`` go to :func:`dask.compute`), its unreliable fits warned
    of here when they were made on a cluster."""
    on_cluster = _cluster_client(kwargs.get("scheduler"), [lazy]) is not None
    (series,) = dask.compute(lazy, **kwargs)
    if on_cluster:
        warn_unreliable(series)
    return series


class LazyTransformSeries:
    """The fits of a datacube, not yet computed: ``register(cube, fixed, compute=False)``.

    A dask collection: :meth:`compute` (or ``dask.compute``, ``client.compute``) returns the
    :class:`~xr_coregix.TransformSeries`; :meth:`persist` starts the fits (on a cluster: in
    the background) and returns a lazy series backed by the results. Each date's fit is a
    :class:`dask.delayed.Delayed` (``lazy[i]``, :attr:`fits`), so that tasks of a user's own
    (an apply and a write per date) can depend on the fit of their date alone, and a whole
    register-apply-write pipeline computes as one graph::

        fits = cube.coreg.register(reference, compute=False)
        writes = [write_date(cube.isel(time=i), fits[i], f"{i}.tif") for i in range(len(fits))]
        dask.compute(fits, *writes)   # a TransformSeries, and the paths written

    :func:`xr_coregix.apply` takes a computed :class:`~xr_coregix.TransformSeries`, not this.

    Attributes
    ----------
    dim : hashable
        The dim the fits run along.
    index : pandas.Index
        Its coordinate values.

    Examples
    --------
    >>> import math, pandas as pd, xarray as xr, xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> cube = xr.concat([moving, moving], "time").assign_coords(
    ...     time=pd.to_datetime(["2024-06-01", "2024-07-01"]))
    >>> lazy = xr_coregix.register(cube, fixed, compute=False)
    >>> lazy
    LazyTransformSeries(2 along 'time', not computed)
    >>> series = lazy.compute()
    >>> series[0] == series[1], len(series.failed)
    (True, 0)
    """

    def __init__(
        self,
        dim: Hashable,
        index: pd.Index,
        series: Delayed,
        fits: tuple[Delayed, ...] | None = None,
    ) -> None:
        self.dim = dim
        self.index = index
        self._series = series
        if fits is None:  # after persist: each fit taken from the series
            fits = tuple(dask.delayed(_fit_at, pure=True)(series, i) for i in range(len(index)))
        self._fits = fits

    # ----------------------------------------------------------------- per date
    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, position: int) -> Delayed:
        """The fit of the date at ``position``.

        Parameters
        ----------
        position : int
            The date's position along :attr:`dim`.

        Returns
        -------
        dask.delayed.Delayed
            Of the date's :class:`~xr_coregix.RigidTransform`, or of None where the date could
            not be registered.
        """
        return self._fits[position]

    def __iter__(self) -> Iterator[Delayed]:
        return iter(self._fits)

    @property
    def fits(self) -> tuple[Delayed, ...]:
        """Each date's fit, a :class:`dask.delayed.Delayed` (of a RigidTransform or None)."""
        return self._fits

    def to_delayed(self) -> Delayed:
        """The series as a :class:`dask.delayed.Delayed` of the :class:`TransformSeries`."""
        return self._series

    # ----------------------------------------------------------------- computing
    def compute(self, **kwargs: Any) -> TransformSeries:
        """Compute the fits.

        Parameters
        ----------
        **kwargs
            Passed to :func:`dask.compute`, e.g. ``scheduler="sync"``.

        Returns
        -------
        TransformSeries
            As ``register(..., compute=True)`` returns it. Fits that fail a reliability check
            with ``on_failure="warn"`` are warned of here too when they were made on a
            ``dask.distributed`` cluster.
        """
        return compute_series(self, **kwargs)

    def persist(self, **kwargs: Any) -> LazyTransformSeries:
        """Start the fits and keep their results.

        Parameters
        ----------
        **kwargs
            Passed to :func:`dask.persist`.

        Returns
        -------
        LazyTransformSeries
            Backed by the results: on a ``dask.distributed`` client, futures (this returns at
            once, the fits run in the background); on the local schedulers, the computed
            values.
        """
        (persisted,) = dask.persist(self, **kwargs)
        return persisted

    # ----------------------------------------------------------------- dask collection
    def __dask_graph__(self) -> Any:
        return self._series.__dask_graph__()

    def __dask_keys__(self) -> Any:
        return self._series.__dask_keys__()

    def __dask_layers__(self) -> Any:
        return self._series.__dask_layers__()

    def __dask_tokenize__(self) -> Any:
        return self._series.key

    def __dask_postcompute__(self) -> tuple[Callable, tuple]:
        return self._series.__dask_postcompute__()

    def __dask_postpersist__(self) -> tuple[Callable, tuple]:
        return self._rebuild, ()

    def _rebuild(self, dsk: Any, *, rename: Any = None) -> LazyTransformSeries:
        rebuild, args = self._series.__dask_postpersist__()
        return LazyTransformSeries(self.dim, self.index, rebuild(dsk, *args, rename=rename))

    __dask_optimize__ = staticmethod(Delayed.__dask_optimize__)
    __dask_scheduler__ = staticmethod(Delayed.__dask_scheduler__)

    def __repr__(self) -> str:
        return f"LazyTransformSeries({len(self)} along {self.dim!r}, not computed)"
