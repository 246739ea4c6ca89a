"""A registration band as the solve sees it, and as SimpleITK sees it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from odc.geo.geobox import GeoBox

from ..errors import GridError


@dataclass(frozen=True)
class SolveImage:
    """One registration band on its grid.

    Attributes
    ----------
    values : numpy.ndarray
        2-D float image (an edge proxy or raw values).
    valid : numpy.ndarray of bool
        Where ``values`` may drive the metric.
    geobox : GeoBox
        The grid of ``values``.
    clear : numpy.ndarray of bool or None
        The valid pixels away from the band's cloud side (its brightest share, or coldest,
        grown by the mask margin), on which the layer check solves again; None: no check.
    """

    values: np.ndarray
    valid: np.ndarray
    geobox: GeoBox
    clear: np.ndarray | None = None

    def window(self, rows: slice, cols: slice) -> SolveImage:
        """The image cropped to ``rows``, ``cols`` (views)."""
        clear = None if self.clear is None else self.clear[rows, cols]
        return SolveImage(
            self.values[rows, cols], self.valid[rows, cols], self.geobox[rows, cols], clear
        )

    def clear_side(self) -> SolveImage | None:
        """The image valid only on :attr:`clear` (None without it)."""
        if self.clear is None:
            return None
        return SolveImage(self.values, self.valid & self.clear, self.geobox)


def to_itk(array: np.ndarray, geobox: GeoBox) -> sitk.Image:
    """An ITK image of ``array`` whose physical space is ``geobox``'s CRS map space."""
    aff = geobox.affine
    sx, sy = math.hypot(aff.a, aff.d), math.hypot(aff.b, aff.e)
    direction = np.array([[aff.a / sx, aff.b / sy], [aff.d / sx, aff.e / sy]])
    if not np.allclose(direction.T @ direction, np.eye(2), atol=1e-9):
        raise GridError(
            f"the grid {aff!r} is sheared; registration needs orthogonal pixel axes: "
            "resample the raster onto a north-up grid first"
        )
    img = sitk.GetImageFromArray(np.ascontiguousarray(array))
    img.SetSpacing((sx, sy))
    img.SetOrigin(tuple(aff @ (0.5, 0.5)))
    img.SetDirection(tuple(direction.ravel()))
    return img
