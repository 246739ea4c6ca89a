"""Grid geometry: which part of one grid another covers."""

from __future__ import annotations

import math

from odc.geo.geobox import GeoBox


def covering_roi(gbox: GeoBox, other: GeoBox, pad: int = 0) -> tuple[slice, slice]:
    """The pixel window of ``gbox`` that covers ``other``'s footprint, widened by ``pad`` pixels.

    Works for any two grids of one CRS (different pixel sizes, offsets and rotations): the
    corners of ``other`` are taken into ``gbox``'s pixel space and their bounding box, rounded
    outwards and clipped to ``gbox``, is returned. An empty window means no overlap.

    Parameters
    ----------
    gbox : GeoBox
        The grid to cut.
    other : GeoBox
        The grid whose footprint to cover (same CRS).
    pad : int
        Extra pixels of ``gbox`` on every side.

    Returns
    -------
    tuple of slice
        ``(rows, columns)`` of ``gbox``.

    Examples
    --------
    >>> from affine import Affine
    >>> a = GeoBox((10, 10), Affine(30, 0, 0, 0, -30, 300), "EPSG:32616")
    >>> b = GeoBox((10, 10), Affine(15, 0, 100, 0, -15, 200), "EPSG:32616")
    >>> covering_roi(a, b)
    (slice(3, 9, None), slice(3, 9, None))
    """
    to_pixels = ~gbox.affine @ other.affine
    rows, cols = other.shape
    corners = [to_pixels @ (c, r) for c, r in ((0, 0), (cols, 0), (0, rows), (cols, rows))]
    eps = 1e-6
    c0 = math.floor(min(c for c, _ in corners) + eps) - pad
    c1 = math.ceil(max(c for c, _ in corners) - eps) + pad
    r0 = math.floor(min(r for _, r in corners) + eps) - pad
    r1 = math.ceil(max(r for _, r in corners) - eps) + pad
    height, width = gbox.shape
    r0, r1 = max(r0, 0), min(r1, height)
    c0, c1 = max(c0, 0), min(c1, width)
    return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))
