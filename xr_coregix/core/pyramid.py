"""Block-mean reduction of a masked image by an integer factor, georeference kept exact.

A reduced pixel is the mean of the valid pixels of an ``f x f`` block and sits at the block's
centre, so its GeoBox is the input GeoBox zoomed out by ``f``: no resampling, no sub-pixel shift.
It serves both the solve grid (a coarser ``solve_resolution``, a finer moving raster) and the
registration pyramid; ITK's own pyramid costs more here because it smooths and resamples the
full images at every level (measured: about 0.2 s a level on 1150 x 1150 pixels).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from odc.geo.geobox import GeoBox

STRIP_PIXELS = 1 << 20  # input pixels reduced at a time, to bound the temporaries' memory


def block_reduce(
    values: np.ndarray, valid: np.ndarray, geobox: GeoBox, factor: int
) -> tuple[np.ndarray, np.ndarray, GeoBox]:
    """Mean of the valid pixels over ``factor x factor`` blocks.

    Rows and columns past the last whole block are dropped. A reduced pixel is valid when at
    least half of its block is valid.

    Parameters
    ----------
    values : numpy.ndarray
        2-D image.
    valid : numpy.ndarray of bool
        Where ``values`` holds data.
    geobox : GeoBox
        Grid of ``values``.
    factor : int
        Block size, 1 or more (1 returns the inputs unchanged, without a copy).

    Returns
    -------
    values : numpy.ndarray
        float32 (the input itself when ``factor`` is 1)
    valid : numpy.ndarray of bool
    geobox : GeoBox
        ``geobox`` cropped to whole blocks and zoomed out by ``factor``.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from affine import Affine
    >>> gb = GeoBox((4, 4), Affine(10, 0, 0, 0, -10, 40), "EPSG:32616")
    >>> v, ok, g = block_reduce(np.arange(16.0).reshape(4, 4), np.ones((4, 4), bool), gb, 2)
    >>> v.tolist(), g.resolution.x
    ([[2.5, 4.5], [10.5, 12.5]], 20.0)
    """
    if factor == 1:
        return values, np.asarray(valid, dtype=bool), geobox
    total, count = _sums_and_counts(values, valid, factor)
    return _level(total, count, factor, geobox)


def reduce_valid(valid: np.ndarray, factor: int) -> np.ndarray:
    """The validity :func:`block_reduce` gives ``valid``: a block is valid when at least half of
    its pixels are.

    Examples
    --------
    >>> import numpy as np
    >>> reduce_valid(np.array([[1, 1, 0, 0], [0, 0, 0, 1]], bool), 2).tolist()
    [[True, False]]
    """
    valid = np.asarray(valid, dtype=bool)
    if factor == 1:
        return valid
    rows, cols = (n // factor * factor for n in valid.shape)
    count = _block_sums(valid[:rows, :cols].astype(np.int32), factor)
    return count * 2 >= factor * factor


def block_pyramid(
    values: np.ndarray, valid: np.ndarray, geobox: GeoBox, factors: Iterable[int]
) -> dict[int, tuple[np.ndarray, np.ndarray, GeoBox]]:
    """:func:`block_reduce` by every factor of ``factors``, in one pass over the
    full-resolution image when each factor is a multiple of the one before (1, 2, 4, 8): each
    level's block sums and counts come from the previous level's, which is exact (the same
    sums, and a level-f pixel is valid when at least half of its f x f pixels are). A factor
    off that chain is reduced from full resolution.

    Examples
    --------
    >>> import numpy as np
    >>> from odc.geo.geobox import GeoBox
    >>> from affine import Affine
    >>> gb = GeoBox((8, 8), Affine(10, 0, 0, 0, -10, 80), "EPSG:32616")
    >>> levels = block_pyramid(np.arange(64.0).reshape(8, 8), np.ones((8, 8), bool), gb, (1, 2, 4))
    >>> levels[4][0].tolist(), levels[4][2].resolution.x
    ([[13.5, 17.5], [45.5, 49.5]], 40.0)
    """
    out: dict[int, tuple[np.ndarray, np.ndarray, GeoBox]] = {}
    sums: tuple[np.ndarray, np.ndarray] | None = None
    done = 1
    for factor in sorted(set(factors)):
        if factor == 1:
            out[1] = (values, np.asarray(valid, dtype=bool), geobox)
            continue
        step = factor // done
        if sums is None or factor % done:  # from full resolution: the first, or off the chain
            sums = _sums_and_counts(values, valid, factor)
        else:
            total, count = sums
            rows, cols = total.shape[0] // step * step, total.shape[1] // step * step
            sums = (
                _block_sums(total[:rows, :cols], step),
                _block_sums(count[:rows, :cols], step),
            )
        done = factor
        out[factor] = _level(*sums, factor, geobox)
    return out


def _level(
    total: np.ndarray, count: np.ndarray, factor: int, geobox: GeoBox
) -> tuple[np.ndarray, np.ndarray, GeoBox]:
    """The mean, validity and grid of a level from its block sums and counts."""
    rows, cols = total.shape
    mean = np.zeros((rows, cols), dtype=np.float32)
    np.divide(total, count, out=mean, where=count > 0)
    cut = (slice(0, rows * factor), slice(0, cols * factor))
    return mean, count * 2 >= factor * factor, geobox[cut].zoom_out(factor)


def _sums_and_counts(
    values: np.ndarray, valid: np.ndarray, factor: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sums of the valid values (float32) and counts of the valid pixels (int32) over the
    whole ``factor x factor`` blocks, in row strips that bound the temporaries."""
    rows, cols = (n // factor for n in values.shape)
    total = np.zeros((rows, cols), dtype=np.float32)
    count = np.zeros((rows, cols), dtype=np.int32)
    step = max(1, STRIP_PIXELS // max(1, cols * factor * factor))  # reduced rows per strip
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        band = slice(r0 * factor, r1 * factor)
        ok = np.asarray(valid[band, : cols * factor], dtype=bool)
        v = np.where(ok, np.asarray(values[band, : cols * factor], dtype=np.float32), np.float32(0))
        total[r0:r1] = _block_sums(v, factor)
        count[r0:r1] = _block_sums(ok.astype(np.int32), factor)
    return total, count


def _block_sums(a: np.ndarray, factor: int) -> np.ndarray:
    """Sums over ``factor x factor`` blocks of ``a`` (whose sides are multiples of ``factor``).

    Strided in-place additions, column phase then row phase: several times faster than a
    reduction over the axes of a 4-D reshape, which numpy walks with a poor access pattern.
    """
    wide = a.reshape(a.shape[0], a.shape[1] // factor, factor)
    rows = wide[:, :, 0].copy()
    for k in range(1, factor):
        rows += wide[:, :, k]
    tall = rows.reshape(a.shape[0] // factor, factor, rows.shape[1])
    out = tall[:, 0].copy()
    for k in range(1, factor):
        out += tall[:, k]
    return out
