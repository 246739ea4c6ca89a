"""A coarse global search for the shift, and how much it can be trusted.

Mutual information is optimised locally: from the identity it reaches a few pixels of the
coarsest level, and on unrelated or periodic content it stops somewhere and improves the metric
a little anyway. Before the MI stages, both registration bands are phase-correlated on a coarse
level (about ``SEARCH_SIDE`` pixels a side, the moving band resampled onto the fixed grid with
the identity, invalid pixels zero, a Hann window, zero-padded): the peak within a quarter of
the smaller side gives the MI stages their start, and the correlation surface says whether
there is a match at all.

- Significance: the peak's height over the standard deviation of the surface away from it.
  Bands of the same ground give 25 to 170 (same band, cross-band, 15 m against 30 m, clouds,
  holes), down to about 7 when most of both is masked (40 % cloud of two dates); unrelated
  ground, or an offset beyond the capture range, 4 to 5.
- Ambiguity: the highest peak farther than ``PEAK_RADIUS`` coarse pixels from the first, over
  the first. Same ground: 0.03 to 0.17; periodic content (a checkerboard) 1.0; unrelated
  ground 0.85 to 0.97; a cloud layer displaced against the ground, the guard off, 0.28.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from affine import Affine
from odc.geo.geobox import GeoBox

from .images import SolveImage, to_itk
from .pyramid import block_reduce

SEARCH_SIDE = 256  # pixels a side of the level searched (its larger side)
PEAK_RADIUS = 3  # coarse pixels around the peak that belong to it
MIN_SIGNIFICANCE = 6.0  # peak over the surface's spread: below it, no match (noise: 4 to 5)
MAX_AMBIGUITY = 0.7  # second peak over the first: above it, more than one match


@dataclass(frozen=True)
class Search:
    """What the global search found.

    Attributes
    ----------
    shift : tuple of float
        Moving-to-reference translation, CRS units (x, y), to a coarse pixel.
    significance : float
        The peak over the spread of the correlation surface.
    ambiguity : float
        The second peak over the first (0 to 1).
    reach : float
        The capture range searched, CRS units (a quarter of the smaller side).
    pixel : float
        The coarse pixel size searched on, CRS units.
    """

    shift: tuple[float, float]
    significance: float
    ambiguity: float
    reach: float
    pixel: float


def _coarse_pair(fixed: SolveImage, moving: SolveImage, factor: int) -> tuple[np.ndarray, ...]:
    """Both bands on the fixed band's coarse grid, zero-mean over their valid pixels."""
    fv, fok, fbox = block_reduce(fixed.values, fixed.valid, fixed.geobox, factor)
    mv, mok, mbox = block_reduce(moving.values, moving.valid, moving.geobox, factor)
    grid = to_itk(np.asarray(fv, np.float32), fbox)
    on_fixed = sitk.Resample(
        to_itk(np.asarray(mv, np.float32), mbox), grid, sitk.Transform(), sitk.sitkLinear, 0.0
    )
    ok_on_fixed = sitk.Resample(
        to_itk(mok.astype(np.uint8), mbox), grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0
    )
    mv, mok = sitk.GetArrayFromImage(on_fixed), sitk.GetArrayFromImage(ok_on_fixed) > 0
    out = []
    for values, ok in ((np.asarray(fv, np.float64), fok), (mv.astype(np.float64), mok)):
        mean = values[ok].mean() if ok.any() else 0.0
        out.append(np.where(ok, values - mean, 0.0))
    return out[0], out[1], fbox


def global_search(
    fixed: SolveImage, moving: SolveImage, start: tuple[float, float] = (0.0, 0.0)
) -> Search | None:
    """Phase-correlate the two bands on a coarse level; None when too small to search.

    Parameters
    ----------
    fixed : SolveImage
        The reference band (cropped to the area valid in both).
    moving : SolveImage
        The moving band on its own grid.
    start : tuple of float
        A moving-to-reference translation (CRS units) to search around: the moving band is
        put where it places it first, and the shift found is added to it.

    Returns
    -------
    Search or None
    """
    if start != (0.0, 0.0):
        moved = Affine.translation(*start) @ moving.geobox.affine
        moving = SolveImage(
            moving.values, moving.valid, GeoBox(moving.geobox.shape, moved, moving.geobox.crs)
        )
    factor = max(1, math.ceil(max(fixed.values.shape) / SEARCH_SIDE))
    a, b, box = _coarse_pair(fixed, moving, factor)
    rows, cols = a.shape
    reach = min(rows, cols) // 4
    if reach < 2 * PEAK_RADIUS:
        return None
    window = np.outer(np.hanning(rows), np.hanning(cols))
    size = (2 * rows, 2 * cols)
    cross = np.fft.rfft2(a * window, size) * np.conj(np.fft.rfft2(b * window, size))
    cross /= np.abs(cross) + 1e-12 * np.abs(cross).max() + np.finfo(float).tiny
    surface = np.fft.fftshift(np.fft.irfft2(cross, size))
    centre = (rows, cols)
    part = surface[
        centre[0] - reach : centre[0] + reach + 1, centre[1] - reach : centre[1] + reach + 1
    ]
    peak = np.unravel_index(int(np.argmax(part)), part.shape)
    yy, xx = np.indices(part.shape)
    away = np.hypot(yy - peak[0], xx - peak[1]) > PEAK_RADIUS
    spread = float(np.std(part[away]))
    top, second = float(part[peak]), float(part[away].max())
    drow, dcol = peak[0] - reach, peak[1] - reach
    aff = box.affine
    shift = (start[0] + aff.a * dcol + aff.b * drow, start[1] + aff.d * dcol + aff.e * drow)
    pixel = float(max(abs(box.resolution.x), abs(box.resolution.y)))
    return Search(
        shift=(float(shift[0]), float(shift[1])),
        significance=top / spread if spread > 0 else math.inf,
        ambiguity=max(0.0, second / top) if top > 0 else 1.0,
        reach=reach * pixel,
        pixel=pixel,
    )


def trusted(search: Search) -> bool:
    """Whether the search found one clear match (significant, not ambiguous)."""
    return search.significance >= MIN_SIGNIFICANCE and search.ambiguity <= MAX_AMBIGUITY
