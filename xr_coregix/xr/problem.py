"""A registration problem: the two bands, their grids, and how a window of them is solved.

Both the single solve and every chunk of a chunked solve go through :func:`solve_window`, which
reads only its window (a dask task reads only its chunk).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from ..core.grid import covering_roi
from ..core.proxy import edge_proxy as make_edge_proxy
from ..core.pyramid import block_reduce
from ..core.solve import STAGES, SolveImage, SolverSettings, solve
from ..core.transform import RigidTransform
from ..errors import CoregError, NoOverlapError
from .bands import select_band
from .georef import check_pair, geobox_of, spatial_dims
from .masks import check_dtype, check_nodata, nodata_of, valid_mask

MARGIN_PIXELS = 32  # reference pixels read around a window, so shifted content stays in reach
MARGIN_SHARE = 0.03  # and this share of the window's size, for rotations


def pixel_size(gbox: GeoBox) -> float:
    """The larger of a grid's two pixel sizes, CRS units."""
    return float(max(abs(gbox.resolution.x), abs(gbox.resolution.y)))


@dataclass(frozen=True)
class SolveSpec:
    """Everything a solve of one window needs besides the pixels (small, picklable)."""

    fixed_nodata: float | None
    moving_nodata: float | None
    fixed_factor: int
    moving_factor: int
    edge_proxy: bool
    stages: tuple[str, ...]
    min_valid_fraction: float
    reference_grid: GeoBox
    settings: SolverSettings = field(default_factory=SolverSettings)


def _solve_image(
    values: np.ndarray, gbox: GeoBox, nodata: float | None, factor: int, edge_proxy: bool
) -> SolveImage:
    valid = valid_mask(values, nodata)
    values, valid, box = block_reduce(values, valid, gbox, factor)
    if edge_proxy:
        values, valid = make_edge_proxy(values, valid)
    return SolveImage(values, valid, box)


def solve_window(
    fixed: xr.DataArray,
    fixed_box: GeoBox,
    moving: xr.DataArray,
    moving_box: GeoBox,
    spec: SolveSpec,
) -> RigidTransform:
    """Solve one window: 2-D ``fixed`` and ``moving`` bands (loaded here) on their grids."""
    fixed_img = _solve_image(
        np.asarray(fixed.values), fixed_box, spec.fixed_nodata, spec.fixed_factor, spec.edge_proxy
    )
    moving_img = _solve_image(
        np.asarray(moving.values),
        moving_box,
        spec.moving_nodata,
        spec.moving_factor,
        spec.edge_proxy,
    )
    return solve(
        fixed_img,
        moving_img,
        stages=spec.stages,
        min_valid_fraction=spec.min_valid_fraction,
        edge_proxy=spec.edge_proxy,
        pixel_size=pixel_size(spec.reference_grid),
        reference_grid=spec.reference_grid,
        reference_nodata=spec.fixed_nodata,
        settings=spec.settings,
    )


def _check_fraction(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0):
        raise CoregError(f"{name}={value!r} must be a number between 0 and 1")
    return float(value)


def _solve_factor(fixed_box: GeoBox, solve_resolution: float | None) -> int:
    """Integer reduction of the reference grid that gives the solve grid."""
    if solve_resolution is None:
        return 1
    if not (isinstance(solve_resolution, (int, float)) and solve_resolution > 0):
        raise CoregError(
            f"solve_resolution={solve_resolution!r} must be a positive pixel size in CRS units"
        )
    return max(1, round(solve_resolution / pixel_size(fixed_box)))


@dataclass(frozen=True)
class Problem:
    """The 2-D registration bands (lazy when the inputs are), their grids and the solve spec."""

    fixed: xr.DataArray
    moving: xr.DataArray
    fixed_box: GeoBox
    moving_box: GeoBox
    overlap: tuple[slice, slice]
    spec: SolveSpec

    @classmethod
    def build(
        cls,
        moving: xr.DataArray | xr.Dataset,
        fixed: xr.DataArray | xr.Dataset,
        *,
        moving_band: int | Hashable,
        fixed_band: int | Hashable,
        edge_proxy: bool,
        stages: Sequence[str],
        moving_nodata: float | None,
        fixed_nodata: float | None,
        min_valid_fraction: float,
        solve_resolution: float | None,
    ) -> Problem:
        """Check the arguments and inputs, and set the problem up (nothing is read)."""
        min_valid_fraction = _check_fraction(min_valid_fraction, "min_valid_fraction")
        stages = tuple(stages)
        if not stages or tuple(s for s in STAGES if s in stages) != stages:
            raise CoregError(
                f"stages={stages!r}: pass ('translation', 'rigid'), ('translation',) or ('rigid',)"
            )
        moving_2d = select_band(moving, moving_band, "moving_band")
        fixed_2d = select_band(fixed, fixed_band, "fixed_band")
        moving_box = geobox_of(moving_2d, "moving")
        fixed_box = geobox_of(fixed_2d, "fixed")
        for band, name, override in (
            (moving_2d, "moving", moving_nodata),
            (fixed_2d, "fixed", fixed_nodata),
        ):
            check_dtype(band.dtype, name)
            label = f"{name}_nodata" if override is not None else f"the nodata of {name}"
            check_nodata(nodata_of(band, override), band.dtype, label)
        check_pair(moving_box, fixed_box)
        overlap = covering_roi(fixed_box, moving_box)
        if fixed_box[overlap].is_empty():
            raise NoOverlapError(
                "moving and fixed share no whole reference pixel: nothing to solve"
            )
        factor = _solve_factor(fixed_box, solve_resolution)
        spacing = factor * pixel_size(fixed_box)
        spec = SolveSpec(
            fixed_nodata=nodata_of(fixed_2d, fixed_nodata),
            moving_nodata=nodata_of(moving_2d, moving_nodata),
            fixed_factor=factor,
            moving_factor=max(1, math.floor(spacing / pixel_size(moving_box) + 1e-6)),
            edge_proxy=edge_proxy,
            stages=stages,
            min_valid_fraction=min_valid_fraction,
            reference_grid=fixed_box,
        )
        ydim, xdim = spatial_dims(fixed_2d, "fixed")
        mydim, mxdim = spatial_dims(moving_2d, "moving")
        return cls(
            fixed_2d.transpose(ydim, xdim),
            moving_2d.transpose(mydim, mxdim),
            fixed_box,
            moving_box,
            overlap,
            spec,
        )

    def window(self, rows: slice, cols: slice) -> tuple[xr.DataArray, GeoBox, xr.DataArray, GeoBox]:
        """The (lazy) fixed pixels of a window of the fixed grid and the moving pixels around it."""
        box = self.fixed_box[rows, cols]
        margin = (MARGIN_PIXELS + MARGIN_SHARE * max(box.shape)) * pixel_size(self.fixed_box)
        pad = math.ceil(margin / pixel_size(self.moving_box))
        mrows, mcols = covering_roi(self.moving_box, box, pad=pad)
        return (
            self.fixed[rows, cols],
            box,
            self.moving[mrows, mcols],
            self.moving_box[mrows, mcols],
        )
