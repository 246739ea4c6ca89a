"""Edge-proxy images: local gradient magnitude computed from valid pixels only."""

from __future__ import annotations

import numpy as np

STRIP_ROWS = 256


def _shifted(a: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """View of the interior of a 1-pixel padded array, shifted by (dr, dc)."""
    rows, cols = a.shape[0] - 2, a.shape[1] - 2
    return a[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols]


def erode(valid: np.ndarray) -> np.ndarray:
    """Pixels whose whole 3x3 neighbourhood is valid (the border of the array counts as invalid).

    Parameters
    ----------
    valid : numpy.ndarray of bool
        2-D validity mask.

    Returns
    -------
    numpy.ndarray of bool
    """
    padded = np.pad(np.asarray(valid, dtype=bool), 1, constant_values=False)
    out = _shifted(padded, 0, 0).copy()
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                out &= _shifted(padded, dr, dc)
    return out


def edge_proxy(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sobel gradient magnitude of ``values`` over valid pixels.

    Invalid pixels never feed a gradient: a pixel is valid in the output only when its whole 3x3
    neighbourhood is valid in the input, and the output is 0 elsewhere.

    Parameters
    ----------
    values : numpy.ndarray
        2-D image, any real dtype.
    valid : numpy.ndarray of bool
        Where ``values`` holds data.

    Returns
    -------
    proxy : numpy.ndarray of float32
        Gradient magnitude (per pixel, in value units).
    proxy_valid : numpy.ndarray of bool
        Where ``proxy`` is defined.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.tile(np.arange(5.0), (5, 1))          # a ramp rising by 1 per column
    >>> proxy, ok = edge_proxy(img, np.ones_like(img, bool))
    >>> float(proxy[2, 2]), int(ok.sum())
    (1.0, 9)
    """
    valid = np.asarray(valid, dtype=bool)
    ok = erode(valid)
    rows = ok.shape[0]
    mag = np.empty(ok.shape, dtype=np.float32)
    for start in range(0, rows, STRIP_ROWS):  # strips bound the temporaries' memory
        stop = min(start + STRIP_ROWS, rows)
        lo, hi = max(start - 1, 0), min(stop + 1, rows)
        strip = np.where(valid[lo:hi], np.asarray(values[lo:hi], dtype=np.float32), 0)
        # pad by replicating edges: those gradients are masked anyway
        top, bottom = (1 if start == 0 else 0), (1 if stop == rows else 0)
        strip = np.pad(strip, ((top, bottom), (1, 1)), mode="edge")
        mag[start:stop] = _sobel_magnitude(strip)
    mag[~ok] = 0
    return mag, ok


def _sobel_magnitude(p: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the interior of a 1-pixel padded array.

    Each kernel is applied as its two separable 1-D passes (a difference one way, a [1, 2, 1]
    smoothing the other).
    """
    across = p[:, 2:] - p[:, :-2]  # d/dx at every row
    gx = across[:-2] + across[2:]
    gx += 2 * across[1:-1]
    smooth = p[:, :-2] + p[:, 2:]
    smooth += 2 * p[:, 1:-1]
    gy = smooth[2:] - smooth[:-2]
    gx *= gx
    gy *= gy
    gx += gy
    np.sqrt(gx, out=gx)
    gx *= np.float32(1 / 8)
    return gx
