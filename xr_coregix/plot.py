"""Diagnostic plots (matplotlib, the ``plot`` extra): look at a registration before trusting it.

- :func:`compare`: the moving raster against the reference before and after the fit, on the
  reference grid, as a checkerboard (or a colour blend) and as a difference.
- :func:`anchors`: a chunked fit's anchors as arrows (a quiver) over the chunk footprints,
  inliers and outliers told apart.

Titles give shifts as the fit's repr does: in reference pixels, x east and y north.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr

from .core.transform import SHIFT_AXES, RigidTransform, rotation_text, shift_text
from .errors import CoregError
from .xr.bands import select_band
from .xr.warp import apply


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - exercised without the extra only
        raise ImportError("plots need matplotlib: pip install 'xr-coregix[plot]'") from err
    return plt


def _stretch(values: np.ndarray) -> np.ndarray:
    """Values scaled to 0..1 between their 2nd and 98th percentiles (NaN kept)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return values
    low, high = np.percentile(finite, [2, 98])
    return np.clip((values - low) / max(high - low, 1e-12), 0, 1)


def _on_reference(moving: xr.DataArray, fixed: xr.DataArray, fit: RigidTransform) -> np.ndarray:
    warped = apply(moving.astype("float32"), fit, grid=fixed.odc.geobox, output_nodata=np.nan)
    return np.asarray(warped.values, dtype="float32")


def compare(
    moving: xr.DataArray | xr.Dataset,
    fixed: xr.DataArray | xr.Dataset,
    fit: RigidTransform,
    *,
    moving_band: int | Hashable = 0,
    fixed_band: int | Hashable = 0,
    mode: str = "checkerboard",
    tiles: int = 8,
) -> Any:
    """Before and after, side by side, on the reference grid.

    Top row: the moving raster under its own georeference; bottom row: under the fit. Left: a
    checkerboard of the two rasters (``mode="checkerboard"``; edges should run on across the
    squares) or a colour blend (``mode="blend"``: reference in magenta, moving in green; grey
    where they agree). Right: their difference after a percentile stretch of each.

    Parameters
    ----------
    moving, fixed : xarray.DataArray or xarray.Dataset
        The pair the fit was made for.
    fit : RigidTransform
        From :func:`xr_coregix.register`.
    moving_band, fixed_band : int or hashable
        The bands to show.
    mode : {"checkerboard", "blend"}
        How the two rasters are shown together.
    tiles : int
        Checkerboard squares along the longer side.

    Returns
    -------
    matplotlib.figure.Figure
        Four image axes (before/after times overlay/difference) and a colour bar, under the
        title ``fit: shift (px, py) px (x east, y north), rotation r deg``: the numbers and
        signs of the fit's repr (reference pixels; +y is north, not a row down).

    Examples
    --------
    >>> import xr_coregix, xr_coregix.plot
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fig = xr_coregix.plot.compare(moving, fixed, xr_coregix.register(moving, fixed))
    >>> sum(1 for ax in fig.axes if ax.get_images())  # and a colour bar
    4
    """
    if mode not in ("checkerboard", "blend"):
        raise CoregError(f"mode={mode!r}: choose 'checkerboard' or 'blend'")
    plt = _pyplot()
    mov = select_band(moving, moving_band, "moving_band")
    ref_band = select_band(fixed, fixed_band, "fixed_band")
    ref = _stretch(np.asarray(ref_band.values, dtype="float32"))
    identity = RigidTransform.identity(crs=fit.crs)
    fig, axes = plt.subplots(2, 2, figsize=(10, 10), constrained_layout=True)
    for row, (label, transform) in enumerate((("before", identity), ("after", fit))):
        warped = _stretch(_on_reference(mov, ref_band, transform))
        if mode == "checkerboard":
            size = max(1, max(ref.shape) // tiles)
            rows, cols = np.indices(ref.shape)
            board = ((rows // size) + (cols // size)) % 2 == 0
            overlay = np.where(board, ref, warped)
            axes[row, 0].imshow(overlay, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            rgb = np.dstack([ref, np.nan_to_num(warped), ref])
            axes[row, 0].imshow(rgb, interpolation="nearest")
        difference = axes[row, 1].imshow(
            warped - ref, cmap="RdBu", vmin=-0.5, vmax=0.5, interpolation="nearest"
        )
        axes[row, 0].set_title(f"{label}: {mode}")
        axes[row, 1].set_title(f"{label}: moving - reference")
    fig.colorbar(difference, ax=axes[:, 1], shrink=0.6, label="stretched difference")
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(_fit_title(fit, ref_band))
    return fig


def _fit_title(fit: RigidTransform, reference: xr.DataArray) -> str:
    """``fit: shift (px, py) px (x east, y north), rotation r deg``: the numbers, signs and
    axes of the fit's repr (in the reference's pixels when the fit has no diagnostics)."""
    size = None
    if fit.diagnostics is None:
        resolution = reference.odc.geobox.resolution
        size = max(abs(resolution.x), abs(resolution.y))
    _, pixels = shift_text(fit, size)
    return f"fit: shift {pixels} {SHIFT_AXES}, rotation {rotation_text(fit)}"


def anchors(fit: RigidTransform, *, ax: Any = None, scale: float | None = None) -> Any:
    """A chunked fit's anchors over its chunks: arrows from each anchor to where its chunk
    moves it (a quiver), inliers in blue, trimmed outliers in red; skipped and rejected chunks
    hatched. The same numbers as a table: ``fit.diagnostics.to_dataframe("anchors")``.

    Parameters
    ----------
    fit : RigidTransform
        A chunked fit (``split_factor`` > 0).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    scale : float, optional
        Arrow exaggeration; default so that the median arrow is a tenth of a chunk.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> ax = anchors(xr_coregix.register(moving, fixed, split_factor=2))
    >>> ax.get_xlabel()
    'x (CRS units)'
    """
    diag = fit.diagnostics
    if diag is None or not diag.chunks:
        raise CoregError(
            "xr_coregix.plot.anchors shows a chunked fit's anchors, and this fit was solved in "
            "one piece: register with split_factor > 0"
        )
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 8), constrained_layout=True)
    for chunk in diag.chunks:
        left, bottom, right, top = chunk.bounds
        ok = chunk.status == "ok"
        ax.add_patch(
            Rectangle(
                (left, bottom),
                right - left,
                top - bottom,
                fill=not ok,
                alpha=1 if ok else 0.2,
                edgecolor="0.4",
                facecolor="0.8",
                hatch=None if ok else "//",
                label=None if ok else chunk.status,
            )
        )
    rows = np.array([a for c in diag.chunks for a in c.anchors], dtype=float)
    kept = np.array([k for c in diag.chunks for k in c.inliers], dtype=bool)
    move = rows[:, 2:] - rows[:, :2]
    width = min(c.bounds[2] - c.bounds[0] for c in diag.chunks)
    length = float(np.median(np.hypot(*move.T))) or 1.0
    scale = scale or 0.1 * width / length
    for mask, color, label in ((kept, "tab:blue", "inlier"), (~kept, "tab:red", "outlier")):
        if mask.any():
            ax.quiver(rows[mask, 0], rows[mask, 1], move[mask, 0] * scale, move[mask, 1] * scale,
                      color=color, angles="xy", scale_units="xy", scale=1, label=label)  # fmt: skip
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_xlabel("x (CRS units)")
    ax.set_ylabel("y (CRS units)")
    ax.set_title(
        f"{diag.anchors_used} anchors kept, {diag.anchors_rejected} trimmed, rmse "
        f"{diag.anchor_rmse:.3f} px (arrows x{scale:.0f})"
    )
    ax.legend(loc="upper right")
    return ax
