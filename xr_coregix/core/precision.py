"""How precise a fit is: the standard error of its shift.

A single solve's error is dominated by the sampling noise of its metric (Mattes mutual
information on a jittered lattice of fixed pixels). Near the optimum the metric is an average
over ``n`` samples whose curvature ``H`` (per squared pixel) tells how sharply the samples pin
the shift down: as for a likelihood, the shift's covariance is ``inv(H) / n``, ``n`` counting
independent samples (:func:`independent_samples`). ``H`` comes from
a quadratic fitted to the metric on a 3 x 3 grid of shifts ``STEP`` pixels apart around the
fit, evaluated on ``SAMPLES`` samples (the curvature needs far fewer samples than the solve).

A chunked fit's shift is a least-squares fit to the anchors of its chunks: each chunk's
covariance is carried through that fit, and compared with the spread of the chunks about it
(its standard error, from their residual offsets); the larger of the two is kept, axis by axis.

Measured on the pairs of ``benchmarks/accuracy.py`` (80 single solves and 70 chunked fits):
see :func:`coverage_factor` and ``docs/reliability.md``.
"""

from __future__ import annotations

import numpy as np

STEP = 0.5  # solve-grid pixels between the shifts the metric is evaluated at
SAMPLES = (5_000, 25_000)  # samples of the grid; the second when the first is not curved
SAMPLE_AREA = 4
"""Solve-grid pixels that make at most one independent sample: the edge proxy's Sobel stencil
spans 3 x 3 pixels, so neighbouring samples share most of their inputs. Measured on the
benchmark pairs (single solves of the 30 m Landsat 8 scene sample 100 000 of its 245 000
pixels): 1 or 2 left 84 % of the errors within 2 standard errors, 4 brought 90 %, 9 made the
Sentinel-2 bounds twice as loose as they need be."""
COVERAGE_FACTOR = 2.5
"""The factor of the standard error's length that bounds the error of an edge-proxy fit in 9
of 10 cases: on the pairs of ``benchmarks/accuracy.py`` the real error stayed within
``2.5 * hypot(sx, sy)`` in 95 % of single solves (76 of 80; same band 16 of 16) and in all 70
chunked fits; within 2 times in 90 % and 100 %."""
COVERAGE_FACTOR_RAW = 4.0
"""The same for a fit of raw values, whose errors the standard error covers less well (the
sample area was measured on edge proxies, and raw values across bands carry more of their own
offset): 2.5 times covered 67 of 79 single solves (85 %), 4 times 73 of 79 (92 %; the misses:
Landsat 8 B8 and B3, and Sentinel-2 B08, against the red band) and all 64 chunked fits."""

MIN_LOCAL_SHIFTS = 4  # windows that make a rotation's error: 2n - 3 = 5 degrees of freedom
ROTATION_SIGMAS = 3.0
"""How many standard errors of the local shifts (:func:`rotation_error`) a fit's rotation must
stand out by to be kept. Across bands, content that sits differently in the two bands (clouds
left by the guard, vegetation edges) turns the rigid stage a few hundredths of a degree
(the Landsat scene of ``tests/data``: B3, B5, B8 against B4 0.030, -0.048, -0.070 degrees,
0.6 px at the corners of B8), several times the metric's own noise, and its windows' shifts
scatter by 0.2-0.5 px: those rotations stand 1.5-2.1 errors out. A real one stands far out:
the same band turned 0.02 degrees 7, the Landsat crop's B5 against B4 turned 0.2 degrees 4.1,
a 2048 x 2048 px pair turned 0.3 degrees over 500."""


def coverage_factor(edge_proxy: bool) -> float:
    """:data:`COVERAGE_FACTOR` for edge proxies, :data:`COVERAGE_FACTOR_RAW` for raw values."""
    return COVERAGE_FACTOR if edge_proxy else COVERAGE_FACTOR_RAW


# the 3 x 3 grid in the order SimpleITK's exhaustive optimizer walks it: x fastest, then y
_GRID = np.array([(x, y) for y in (-1.0, 0.0, 1.0) for x in (-1.0, 0.0, 1.0)])
_DESIGN = np.c_[np.ones(9), _GRID, _GRID**2, _GRID[:, 0] * _GRID[:, 1]]


def curvature(values: np.ndarray) -> np.ndarray:
    """The Hessian (per squared grid step) of the quadratic fitted to a 3 x 3 metric grid.

    Parameters
    ----------
    values : numpy.ndarray
        Nine metric values at shifts ``(x, y)`` of -1, 0 and 1 steps, x fastest.

    Returns
    -------
    numpy.ndarray
        The 2 x 2 Hessian (x, y).

    Examples
    --------
    >>> x, y = _GRID.T
    >>> curvature(2 * x**2 + x * y + 0.5 * y**2 + 3).round(6).tolist()
    [[4.0, 1.0], [1.0, 1.0]]
    """
    c = np.linalg.lstsq(_DESIGN, np.asarray(values, dtype=float), rcond=None)[0]
    return np.array([[2 * c[3], c[5]], [c[5], 2 * c[4]]])


def independent_samples(samples: int, valid: int) -> float:
    """How many independent samples a metric on ``samples`` of ``valid`` pixels averages:
    at most one per :data:`SAMPLE_AREA` pixels.

    Examples
    --------
    >>> independent_samples(100_000, 1_000_000), independent_samples(100_000, 250_000)
    (100000, 62500.0)
    """
    return min(samples, valid / SAMPLE_AREA)


def shift_covariance(values: np.ndarray, samples: float, step: float = STEP) -> np.ndarray | None:
    """The covariance of a fit's shift (squared pixels) from its metric grid.

    Parameters
    ----------
    values : numpy.ndarray
        The metric on a 3 x 3 grid about the fit (see :func:`curvature`), lower is better.
    samples : float
        How many independent samples the solve's metric averaged at its last level.
    step : float
        The grid's step, pixels.

    Returns
    -------
    numpy.ndarray or None
        ``inv(H) / samples`` in squared pixels (x, y); None when the grid is not curved
        upwards in every direction (too noisy, or not at a minimum).

    Examples
    --------
    >>> x, y = _GRID.T
    >>> shift_covariance(0.5 * (x**2 + y**2), samples=100, step=1.0).round(6) + 0.0
    array([[0.01, 0.  ],
           [0.  , 0.01]])
    >>> shift_covariance(-(x**2) + y**2, samples=100) is None
    True
    """
    hessian = curvature(values)
    if np.linalg.eigvalsh(hessian).min() <= 0:
        return None
    return np.linalg.inv(hessian) / samples * step**2


def _rigid_design(offsets: np.ndarray) -> np.ndarray:
    """The least-squares design of a small rigid motion (rotation in radians, then translation
    x, y) seen as displacements at points ``offsets`` (n x 2, from the centre of rotation):
    rows x, y of each point in turn."""
    design = np.zeros((2 * len(offsets), 3))
    design[0::2, 0], design[1::2, 0] = -offsets[:, 1], offsets[:, 0]
    design[0::2, 1] = design[1::2, 2] = 1.0
    return design


def anchored_covariance(
    anchors: list[np.ndarray], covariances: list[np.ndarray], center: tuple[float, float]
) -> np.ndarray:
    """The covariance of the translation, about ``center``, of the least-squares rigid fit to
    sets of anchors, each set displaced by an error of the given covariance.

    Parameters
    ----------
    anchors : list of numpy.ndarray
        Each chunk's anchors, shape (m, 2), CRS units.
    covariances : list of numpy.ndarray
        Each chunk's 2 x 2 shift covariance (any unit; the result is in the same).
    center : tuple of float
        The fit's centre of rotation.

    Returns
    -------
    numpy.ndarray
        2 x 2 (x, y).

    Examples
    --------
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> chunks = [square, square + [10.0, 0.0]]
    >>> anchored_covariance(chunks, [np.eye(2), np.eye(2)], (5.5, 0.5)).round(6) + 0.0
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    design = _rigid_design(np.concatenate(anchors) - np.asarray(center, dtype=float))
    solve = np.linalg.pinv(design)[1:]  # translation from the anchors' displacements
    total = np.zeros((2, 2))
    start = 0
    for points, cov in zip(anchors, covariances, strict=True):
        stop = start + 2 * len(points)
        # every anchor of a set moves by the same error: its columns add up, x and y apart
        part = solve[:, start:stop].reshape(2, -1, 2).sum(axis=1)
        total += part @ cov @ part.T
        start = stop
    return total


def spread_variances(offsets: np.ndarray) -> np.ndarray | None:
    """Squared standard errors (x, y) of a fit's translation from the residual offsets of the
    chunks it was fitted to (each chunk's mean anchor residual), ``sum(r**2) / (n - 1.5) / n``
    per axis (the fit takes three parameters from two numbers a chunk); None for fewer than
    two chunks.

    Examples
    --------
    >>> spread_variances(np.array([[0.1, 0.0], [-0.1, 0.0], [0.1, 0.2], [-0.1, -0.2]])).round(6)
    array([0.004, 0.008])
    """
    offsets = np.asarray(offsets, dtype=float)
    n = len(offsets)
    if n < 2:
        return None
    return np.sum(offsets**2, axis=0) / (n - 1.5) / n


def chunked_precision(
    anchors: list[np.ndarray],
    offsets: np.ndarray,
    errors: list[tuple[float, float] | None],
    center: tuple[float, float],
) -> tuple[float, float] | None:
    """The standard error (x, y) of a chunked fit's translation, in the unit of ``errors`` and
    ``offsets``.

    Parameters
    ----------
    anchors : list of numpy.ndarray
        Each chunk's anchors that the fit kept, shape (m, 2), CRS units.
    offsets : numpy.ndarray
        Each chunk's mean residual of those anchors under the fit, shape (chunks, 2).
    errors : list of tuple of float or None
        Each chunk's own standard error (x, y); None where it has none.
    center : tuple of float
        The fit's centre of rotation, CRS units.

    Returns
    -------
    tuple of float or None
        Per axis the larger of the chunks' errors carried through the fit
        (:func:`anchored_covariance`) and the spread of the chunks (:func:`spread_variances`);
        either alone when the other is unknown; None when both are.

    Examples
    --------
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> chunks = [square, square + [10.0, 0.0], square + [0.0, 10.0]]
    >>> offsets = np.array([[0.1, 0.0], [-0.1, 0.0], [0.0, 0.0]])
    >>> [round(v, 4) for v in chunked_precision(chunks, offsets, [(0.1, 0.1)] * 3, (0, 0))]
    [0.0667, 0.0664]
    """
    variances = spread_variances(offsets)
    if None not in errors:
        carried = anchored_covariance(anchors, [np.diag(np.square(e)) for e in errors], center)
        own = np.diag(carried)
        variances = own if variances is None else np.maximum(own, variances)
    if variances is None:
        return None
    x, y = np.sqrt(variances)
    return float(x), float(y)


def rotation_error(points: np.ndarray, shifts: np.ndarray) -> float | None:
    """The standard error (radians) of a fit's rotation from the spread of local shifts.

    Each local shift is how far a translation alone, refined on a window of the area about
    the fit, moves it (x, y) at that window's centre. A rotation the fit got wrong shows as
    shifts that turn about the centre; the windows' own content (a band's edges placed
    differently, clouds the guard left) scatters them. A rigid motion (rotation, translation)
    is fitted to the shifts by least squares, and the standard error of its rotation comes from
    their residual scatter: ``sqrt(s**2 * inv(A'A)[0, 0])`` with ``s**2`` the residual sum of
    squares over ``2n - 3`` degrees of freedom.

    Parameters
    ----------
    points : numpy.ndarray
        The windows' centres, n x 2, from the fit's centre of rotation.
    shifts : numpy.ndarray
        Their shifts, n x 2, in the unit of ``points``.

    Returns
    -------
    float or None
        Radians; None for fewer than :data:`MIN_LOCAL_SHIFTS` windows.

    Examples
    --------
    >>> points = np.array([[x, y] for y in (-1.0, 0.0, 1.0) for x in (-1.0, 0.0, 1.0)]) * 100
    >>> scatter = np.array([[1, -1], [0, 1], [-1, 0]] * 3) * 0.1
    >>> round(rotation_error(points, scatter), 6)
    0.00025
    >>> rotation_error(points[:3], scatter[:3]) is None
    True
    """
    if len(points) < MIN_LOCAL_SHIFTS:
        return None
    design, residual = _rigid_residuals(points, shifts)
    variance = np.sum(residual**2) / (residual.size - 3)
    return float(np.sqrt(variance * np.linalg.inv(design.T @ design)[0, 0]))


def local_spread(points: np.ndarray, shifts: np.ndarray) -> tuple[float, float] | None:
    """The standard error (x, y) of a fit's translation from the scatter of its local shifts
    (see :func:`rotation_error`) about the rigid motion fitted to them: their residuals as the
    offsets of :func:`spread_variances`. The metric's curvature measures its sampling noise
    only; windows disagree also where the two bands' content does (clouds the guard left, a
    band's own offset), and the fit's error shares that, as a chunked fit's shares its
    chunks'.

    Parameters
    ----------
    points, shifts : numpy.ndarray
        As :func:`rotation_error`'s.

    Returns
    -------
    tuple of float or None
        In the unit of ``shifts``; None for fewer than :data:`MIN_LOCAL_SHIFTS` windows.

    Examples
    --------
    >>> points = np.array([[x, y] for y in (-1.0, 0.0, 1.0) for x in (-1.0, 0.0, 1.0)]) * 100
    >>> turned = 0.001 * np.c_[-points[:, 1], points[:, 0]] + [0.5, 0.0]
    >>> [round(v, 9) for v in local_spread(points, turned)]  # a rigid motion: no scatter
    [0.0, 0.0]
    """
    if len(points) < MIN_LOCAL_SHIFTS:
        return None
    x, y = np.sqrt(spread_variances(_rigid_residuals(points, shifts)[1]))
    return float(x), float(y)


def _rigid_residuals(points: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The design of :func:`_rigid_design` at ``points``, and the residuals (n x 2) of
    ``shifts`` about the rigid motion fitted to them by least squares."""
    design = _rigid_design(np.asarray(points, dtype=float))
    flat = np.asarray(shifts, dtype=float).reshape(-1)
    solution, *_ = np.linalg.lstsq(design, flat, rcond=None)
    return design, (flat - design @ solution).reshape(-1, 2)


def rotation_supported(rotation: float, error: float | None) -> bool:
    """Whether a fit's ``rotation`` (radians) stands out of its ``error``
    (:func:`rotation_error`) by :data:`ROTATION_SIGMAS` (always, without an error).

    Examples
    --------
    >>> rotation_supported(0.001, 0.0005), rotation_supported(0.002, 0.0005)
    (False, True)
    """
    return error is None or abs(rotation) >= ROTATION_SIGMAS * error
