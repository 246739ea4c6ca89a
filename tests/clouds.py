"""Cloudy test pairs: real ground under synthetic clouds, shadows and haze, with an exact truth.

The ground is a real raster (a shipped Landsat crop). Both sides of a pair show it under a cloud
layer; on the moving side the layer may sit displaced relative to the ground (cloud parallax
between bands or sensors), or be a different field altogether (clouds of another date). The
moving side is then resampled through a known rigid misregistration of the ground. A solve that
keeps to the ground returns the truth; one that follows the clouds returns the truth plus the
parallax.

Clouds are soft-edged, textured, brighter than any ground; shadows darken the ground beside them
(in the sun's direction, on the ground: they do not move with parallax); haze is a smooth, thin
brightening over a large part of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from scipy import ndimage

from xr_coregix import RigidTransform

SOFT_EDGE_PX = 3.0  # width over which a cloud fades from clear to opaque
SHADOW_OFFSET_PX = (9, -7)  # (rows, columns) from a cloud to its shadow
SHADOW_DEPTH = 0.45  # share of the ground's light a full shadow takes away


@dataclass(frozen=True)
class Sky:
    """What lies over the ground of a pair.

    Attributes
    ----------
    cover : float
        Share of the scene under opaque cloud, 0 to 1.
    parallax : tuple of int
        ``(columns, rows)`` by which the moving side's cloud layer sits displaced relative to
        the ground (x east, y south, in ground pixels).
    independent : bool
        The moving side has a cloud field of its own (another date) instead of the displaced one.
    shadow : bool
        Clouds cast shadows on the ground.
    haze : float
        Peak opacity of a smooth haze layer over the moving side (0: none).
    clear_reference : bool
        The fixed side has no clouds (a clear reference; the moving side's clouds are then those
        of ``cover`` displaced by ``parallax``).
    scale : float
        Typical cloud size in pixels (the smoothing of the noise the field is cut from).
    seed : int
        Seed of the fields.
    """

    cover: float
    parallax: tuple[int, int] = (12, 0)
    independent: bool = False
    shadow: bool = True
    haze: float = 0.0
    clear_reference: bool = False
    scale: float = 6.0
    seed: int = 0


def cloud_opacity(shape: tuple[int, int], cover: float, scale: float, seed: int) -> np.ndarray:
    """A soft-edged cloud field: opacity 0..1, above one half over ``cover`` of the pixels."""
    rng = np.random.default_rng(seed)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    noise /= noise.std()
    if cover <= 0:
        return np.zeros(shape, dtype=np.float32)
    cut = np.quantile(noise, 1 - cover)
    # the gradient of the field near the cut sets the edge width: scale it to SOFT_EDGE_PX
    slope = float(np.median(np.hypot(*np.gradient(noise))[np.abs(noise - cut) < 0.1]))
    width = max(slope * SOFT_EDGE_PX, 1e-6)
    return np.clip((noise - cut) / width + 0.5, 0, 1).astype(np.float32)


def _texture(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Relative brightness inside clouds (their tops are not flat)."""
    rng = np.random.default_rng(seed + 1000)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5)
    return 0.85 + 0.15 * texture / texture.std()


def _cloudy(
    ground: np.ndarray, opacity: np.ndarray, radiance: np.ndarray, shadow: np.ndarray | None
) -> np.ndarray:
    """``ground`` darkened by ``shadow``, under clouds of ``opacity`` and ``radiance``."""
    out = ground if shadow is None else ground * (1 - SHADOW_DEPTH * shadow)
    return out * (1 - opacity) + radiance * opacity


def _shifted(field: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return ndimage.shift(field, (rows, cols), order=0, mode="grid-wrap")


def cloudy_scenes(ground: xr.DataArray, sky: Sky) -> tuple[xr.DataArray, ...]:
    """The ground as the fixed and the moving sides see it, both on the ground's own grid, and
    the quality masks of each (where a cloud or its shadow is thicker than one half).

    Returns
    -------
    moving_scene, fixed_scene, moving_mask, fixed_mask : xarray.DataArray
        float64 and bool, 2-D. The moving side still needs its misregistration (see
        :func:`cloudy_pair`).
    """
    values = np.asarray(ground.squeeze().values, dtype=np.float64)
    bright = float(np.percentile(values, 99.9)) * 1.6
    shape = values.shape
    fixed_op = cloud_opacity(shape, sky.cover, sky.scale, sky.seed)
    fixed_rad = bright * _texture(shape, sky.seed)
    if sky.independent:
        moving_op = cloud_opacity(shape, sky.cover, sky.scale, sky.seed + 1)
        moving_rad = bright * _texture(shape, sky.seed + 1)
    else:  # the same clouds, displaced
        dc, dr = sky.parallax
        moving_op, moving_rad = _shifted(fixed_op, dr, dc), _shifted(fixed_rad, dr, dc)
    shadow_of = (lambda op: _shifted(op, *SHADOW_OFFSET_PX)) if sky.shadow else (lambda op: None)
    fixed = _cloudy(values, fixed_op, fixed_rad, shadow_of(fixed_op))
    # parallax displaces the clouds, not their shadows on the ground; another date moves both
    moving_shadow = shadow_of(moving_op if sky.independent else fixed_op)
    if sky.clear_reference:
        fixed, fixed_op = values, np.zeros_like(fixed_op)
    moving = _cloudy(values, moving_op, moving_rad, moving_shadow)
    if sky.haze:
        haze = cloud_opacity(shape, 0.5, 40.0, sky.seed + 3) * sky.haze
        moving = moving * (1 - haze) + bright * 0.6 * haze
    template = ground.squeeze(drop=True)
    flagged = [op > 0.5 for op in (moving_op, fixed_op)]
    if sky.shadow:
        flagged[0] |= moving_shadow > 0.5
        flagged[1] |= shadow_of(fixed_op) > 0.5  # (none for a clear reference)
    return (
        template.copy(data=moving),
        template.copy(data=fixed),
        template.copy(data=flagged[0]),
        template.copy(data=flagged[1]),
    )


def cloudy_pair(
    ground: xr.DataArray, sky: Sky, truth: RigidTransform, grid: GeoBox, margin: int = 32
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, xr.DataArray]:
    """A cloudy pair whose ground is misregistered by ``truth``.

    Parameters
    ----------
    ground : xarray.DataArray
        The real ground raster.
    sky : Sky
        The clouds over it.
    truth : RigidTransform
        The misregistration of the moving side's ground (what a fit must return).
    grid : GeoBox
        Grid of the moving side.
    margin : int
        Pixels of the ground cut from every side of the fixed side.

    Returns
    -------
    moving, fixed : xarray.DataArray
        float32 with NaN outside the moving scene, and the fixed side as float32.
    moving_mask, fixed_mask : xarray.DataArray
        Their quality masks (bool, True = cloud or shadow), as a cloud mask product flags them.
    """
    from synthetic import inner, misregister

    moving_scene, fixed_scene, moving_flag, fixed_flag = cloudy_scenes(ground, sky)
    moving = misregister(moving_scene, truth, grid)
    moving_mask = misregister(moving_flag.astype(np.float32), truth, grid).fillna(0) > 0.5
    fixed = inner(fixed_scene, margin).astype(np.float32)
    return moving, fixed, moving_mask, inner(fixed_flag, margin)
