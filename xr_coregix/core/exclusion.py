"""Pixels kept out of the metric besides nodata: masks grown by a margin, and the cloud guard.

Clouds, haze and changed ground are content that differs between the two rasters; when they sit
at another place relative to the ground on each side (parallax, another date) a solve that sees
them aligns them instead of the ground. Their soft edges are strong structure in an edge proxy,
so a mask is grown by a margin before it excludes pixels.

The cloud guard finds, without any mask, the pixels that are outliers on the cloud side of a band
(bright in reflective bands, cold in thermal ones). Its threshold comes from the clear side of
the histogram: the median and the lower quartile of the pixels on the clear side of the
threshold itself, iterated to the fixed point, so that clouds beyond it do not move it however
many there are (up to about half the scene). A mean and standard deviation would grow with the
cloud cover and let the clouds through exactly when they matter. Where clouds and haze are most
of the scene, its median is theirs and the guard misses them: a quality mask is needed there.
A clipping that would keep less than half of the band has sunk into a narrow dark mode (water)
and finds no threshold: the guard never takes most of a band for cloud.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

Side = Literal["bright", "cold"]
SIDES = ("bright", "cold")
SPREAD = 4.0  # the threshold lies this many clear-side quartile distances beyond the median
MAX_ROUNDS = 50
SAMPLE_PIXELS = 1 << 20  # most pixels the threshold is estimated from
COLD_EVIDENCE = 3.0  # "auto" takes the cold side only when its outliers are this much more common
# The layer check solves again without this share of each band, taken from its cloud side: a fit
# that clouds (or other bright content) lead moves when they are left out, one on the ground does
# not. A share, not an outlier threshold: where clouds are most of the scene the guard's threshold
# rises with them (it sees their median as the ground's), but their brightest pixels stay theirs.
LAYER_SHARE = 0.3


def _grow(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels along ``axis`` (ORs of shifted slices)."""
    out = mask.copy()
    for step in range(1, radius + 1):
        ahead = [slice(None)] * 2
        behind = [slice(None)] * 2
        ahead[axis], behind[axis] = slice(step, None), slice(None, -step)
        out[tuple(ahead)] |= mask[tuple(behind)]
        out[tuple(behind)] |= mask[tuple(ahead)]
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a square: two separable passes of ORs).

    Parameters
    ----------
    mask : numpy.ndarray of bool
        2-D.
    radius : int
        Pixels; 0 returns the mask as it is.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((5, 5), bool); mask[2, 2] = True
    >>> int(dilate(mask, 1).sum()), int(dilate(mask, 2).sum())
    (9, 25)
    """
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return mask
    return _grow(_grow(mask, radius, 0), radius, 1)


def _clipped_threshold(ascending: np.ndarray, spread: float) -> float | None:
    """Upper threshold of sorted values: ``median + spread * (median - lower quartile)`` of the
    values below it, found by iterating from all values down to the fixed point. None when
    there is no spread, or when the iteration sinks below half of the values: a narrow dark
    mode (flood water over 40 % of a scene) then holds the median and the quartile, and every
    brighter pixel, the land, would count as cloud."""
    count = ascending.size
    threshold = np.inf
    for _ in range(MAX_ROUNDS):
        median = ascending[(count - 1) // 2]
        quartile = ascending[(count - 1) // 4]
        if not median > quartile:
            return None
        new = float(median + spread * (median - quartile))
        count_new = int(np.searchsorted(ascending, new, side="right"))
        if 2 * count_new < ascending.size:
            return None
        if count_new == count:
            return new
        threshold, count = new, count_new
    return threshold


def cloud_threshold(sample: np.ndarray, side: Side, spread: float = SPREAD) -> float | None:
    """The value beyond which a pixel of a band counts as cloud.

    One-sided clipping from the clear side: the threshold lies ``spread`` times the distance
    from the lower quartile to the median beyond the median, both taken over the pixels on
    the clear side of the threshold itself (iterated to the fixed point). Clouds beyond it
    do not move it, however many there are, as long as the ground is most of the scene.

    Parameters
    ----------
    sample : numpy.ndarray
        Valid values of the band (any shape; a subsample is enough).
    side : {"bright", "cold"}
        Where clouds lie: above (reflective bands) or below (thermal bands) the ground.
    spread : float
        Quartile distances between the median and the threshold.

    Returns
    -------
    float or None
        None when the band has no spread to measure from (e.g. a constant band), or when the
        clipping sinks below half of the values (a narrow dark mode, such as flood water over
        40 % of a scene, holds the median and the quartile there, and would make every
        brighter pixel cloud): the guard then leaves the band as it is.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ground = rng.gamma(4.0, 500.0, 60_000) + 6000          # skewed, with a dark floor
    >>> thresholds = []
    >>> for cover in (0.05, 0.4):                              # brighter clouds, more of them
    ...     clouds = rng.uniform(12000, 30000, int(60_000 * cover / (1 - cover)))
    ...     thresholds.append(cloud_threshold(np.r_[ground, clouds], "bright"))
    >>> [round(t, -2) for t in thresholds], round(float(np.mean(ground > thresholds[1])), 3)
    ([9900.0, 9900.0], 0.045)
    """
    if side not in SIDES:
        raise ValueError(f"side={side!r}: pass 'bright' or 'cold'")
    return _threshold(_ascending(sample), side, spread)


def _ascending(sample: np.ndarray) -> np.ndarray:
    return np.sort(np.asarray(sample, dtype=np.float64).ravel())


def _threshold(ascending: np.ndarray, side: Side, spread: float) -> float | None:
    """:func:`cloud_threshold` of sorted values (the cold side: of their negatives, which
    are the sorted values reversed: one sort serves both sides)."""
    if ascending.size == 0:
        return None
    if side == "bright":
        return _clipped_threshold(ascending, spread)
    threshold = _clipped_threshold(-ascending[::-1], spread)
    return None if threshold is None else -threshold


def guard_side(sample: np.ndarray, spread: float = SPREAD) -> Side:
    """The cloud side of a band whose kind is not known: ``"bright"``, unless outliers beyond
    the cold threshold are ``COLD_EVIDENCE`` times as common as beyond the bright one (clouds in
    a thermal band).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ground = rng.normal(300.0, 2.0, 80_000)              # kelvin
    >>> clouds = rng.uniform(230.0, 270.0, 20_000)           # cold cloud tops
    >>> guard_side(np.r_[ground, clouds]), guard_side(ground)
    ('cold', 'bright')
    """
    return _choose_side(_ascending(sample), spread)[0]


class Guard(NamedTuple):
    """The cloud guard's reading of one band."""

    side: Side  # where its clouds lie
    threshold: float | None  # beyond it a pixel counts as cloud (None: no spread to measure)
    layer: float | None  # beyond it lies the band's LAYER_SHARE on that side (None: empty)


def _side_quantile(ascending: np.ndarray, side: Side, share: float) -> float | None:
    """The value of sorted values beyond which ``share`` of them lie on ``side``."""
    if ascending.size == 0:
        return None
    index = round((1.0 - share) * (ascending.size - 1))
    return float(ascending[index] if side == "bright" else ascending[ascending.size - 1 - index])


def guard(sample: np.ndarray, side: Side | None = None, spread: float = SPREAD) -> Guard:
    """The cloud side of a band (``side``, or :func:`guard_side`'s choice when None), its
    :func:`cloud_threshold` and the value beyond which its ``LAYER_SHARE`` lies on that side,
    from one sort of ``sample``.

    Examples
    --------
    >>> import numpy as np
    >>> side, threshold, layer = guard(np.r_[np.arange(100.0), 1000.0, 1200.0])
    >>> side, round(threshold, 1), layer
    ('bright', 149.0, 71.0)
    """
    ascending = _ascending(sample)
    if side is None:
        side, threshold = _choose_side(ascending, spread)
    else:
        threshold = _threshold(ascending, side, spread)
    return Guard(side, threshold, _side_quantile(ascending, side, LAYER_SHARE))


def _choose_side(ascending: np.ndarray, spread: float) -> tuple[Side, float | None]:
    """:func:`guard_side` of sorted values, and that side's :func:`cloud_threshold`."""
    shares = {}
    thresholds = {}
    for candidate in SIDES:
        threshold = _threshold(ascending, candidate, spread)
        if threshold is None:
            return "bright", _threshold(ascending, "bright", spread)
        thresholds[candidate] = threshold
        if candidate == "bright":  # beyond: above, counted on the sorted values
            count = ascending.size - np.searchsorted(ascending, threshold, side="right")
        else:
            count = np.searchsorted(ascending, threshold, side="left")
        shares[candidate] = count / ascending.size
    chosen: Side = (
        "cold" if shares["cold"] > COLD_EVIDENCE * max(shares["bright"], 1e-3) else "bright"
    )
    return chosen, thresholds[chosen]


def beyond(values: np.ndarray, threshold: float, side: Side) -> np.ndarray:
    """Pixels of ``values`` on the cloud side of ``threshold``."""
    return values > threshold if side == "bright" else values < threshold
