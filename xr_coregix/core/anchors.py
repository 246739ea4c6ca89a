"""Chunked registration's geometry: chunk layout, anchor points, and one robust rigid fit.

A large overlap is cut into ``2**k`` overlapping chunks; each chunk is solved on its own; a
lattice of anchor points inside each good chunk is carried through that chunk's transform;
and one rigid transform is fitted to all anchors by least squares with MAD-based trimming of
outliers (chunks where clouds, water or change misled the local solve).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .transform import RigidTransform


def split_counts(shape: tuple[int, int], split_factor: int) -> tuple[int, int]:
    """Rows and columns of chunks for ``2**split_factor`` chunks, halving the longer side first.

    Examples
    --------
    >>> split_counts((1000, 1000), 3)
    (2, 4)
    >>> split_counts((4000, 1000), 2)
    (4, 1)
    """
    rows, cols = 1, 1
    for _ in range(split_factor):
        if shape[0] / rows > shape[1] / cols:
            rows *= 2
        else:
            cols *= 2
    return rows, cols


def plan_chunks(
    shape: tuple[int, int], split_factor: int, overlap: float = 0.25
) -> list[tuple[slice, slice, slice, slice]]:
    """Overlapping chunk windows over an array of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, columns)`` to cover.
    split_factor : int
        ``2**split_factor`` chunks.
    overlap : float
        Each chunk is widened on every side by this share of its core size.

    Returns
    -------
    list of tuple of slice
        ``(rows, columns, core_rows, core_columns)`` per chunk: the widened window and the
        chunk's own share (the cores tile ``shape`` exactly).
    """
    n_rows, n_cols = split_counts(shape, split_factor)
    row_edges = np.linspace(0, shape[0], n_rows + 1).round().astype(int)
    col_edges = np.linspace(0, shape[1], n_cols + 1).round().astype(int)
    chunks = []
    for r0, r1 in itertools.pairwise(row_edges):
        for c0, c1 in itertools.pairwise(col_edges):
            pr = math.ceil((r1 - r0) * overlap)
            pc = math.ceil((c1 - c0) * overlap)
            chunks.append(
                (
                    slice(max(0, r0 - pr), min(shape[0], r1 + pr)),
                    slice(max(0, c0 - pc), min(shape[1], c1 + pc)),
                    slice(int(r0), int(r1)),
                    slice(int(c0), int(c1)),
                )
            )
    return chunks


def lattice(bounds: tuple[float, float, float, float], per_side: int = 5) -> np.ndarray:
    """``per_side x per_side`` points evenly inside ``(left, bottom, right, top)``, shape (n, 2)."""
    left, bottom, right, top = bounds
    fx = (np.arange(per_side) + 0.5) / per_side
    xs = left + fx * (right - left)
    ys = bottom + fx * (top - bottom)
    xx, yy = np.meshgrid(xs, ys)
    return np.c_[xx.ravel(), yy.ravel()]


def kabsch(
    src: np.ndarray, dst: np.ndarray, keep: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rigid map of ``src[keep]`` onto ``dst[keep]`` (all pairs by default): its
    2x3 matrix, and the residual distance of every pair under it."""
    if keep is None:
        keep = np.ones(len(src), dtype=bool)
    cs, cd = src[keep].mean(axis=0), dst[keep].mean(axis=0)
    a, b = src[keep] - cs, dst[keep] - cd
    angle = math.atan2(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]), np.sum(a * b))
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    matrix = np.c_[rot, cd - rot @ cs]
    residual = np.hypot(*(src @ rot.T + matrix[:, 2] - dst).T)
    return matrix, residual


@dataclass(frozen=True)
class RobustFit:
    """A rigid transform fitted to anchor pairs, and which anchors it kept.

    Attributes
    ----------
    transform : RigidTransform
        The fit.
    inliers : numpy.ndarray of bool
        Anchors kept.
    rmse : float
        Root mean square residual of the inliers, CRS units.
    """

    transform: RigidTransform
    inliers: np.ndarray
    rmse: float


def fit_rigid_robust(
    src: np.ndarray,
    dst: np.ndarray,
    *,
    center: tuple[float, float],
    crs: object = None,
    floor: float = 0.0,
    cutoff: float = 3.0,
    iterations: int = 10,
) -> RobustFit:
    """Rigid transform from ``src`` to ``dst`` points, least squares with MAD trimming.

    Each round refits on the inliers and keeps the anchors whose residual is within
    ``median + cutoff * 1.4826 * MAD`` (never below ``floor``), until the set is stable.

    Parameters
    ----------
    src, dst : numpy.ndarray
        Corresponding points, shape (n, 2), n >= 2.
    center : tuple of float
        Centre of the returned transform's rotation.
    crs : CRS-like, optional
        CRS of the points.
    floor : float
        Residual (CRS units) always accepted, so that near-perfect anchors are not trimmed
        for being slightly worse than the median.
    cutoff : float
        Width of the acceptance band in robust standard deviations.
    iterations : int
        Most trimming rounds.

    Examples
    --------
    >>> import numpy as np
    >>> src = np.array([[0.0, 0], [10, 0], [0, 10], [10, 10], [5, 5]])
    >>> dst = src + [1.0, 2.0]
    >>> dst[4] += 50  # an outlier
    >>> fit = fit_rigid_robust(src, dst, center=(0.0, 0.0))
    >>> fit.inliers.tolist(), [round(v, 6) for v in fit.transform.translation]
    ([True, True, True, True, False], [1.0, 2.0])
    """
    src = np.asarray(src, dtype=float)
    dst = np.asarray(dst, dtype=float)
    keep = np.ones(len(src), dtype=bool)
    matrix, residual = kabsch(src, dst, keep)
    for _ in range(iterations):
        med = np.median(residual[keep])
        mad = 1.4826 * np.median(np.abs(residual[keep] - med))
        new_keep = residual <= max(floor, med + cutoff * mad)
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
        matrix, residual = kabsch(src, dst, keep)
    transform = RigidTransform.from_matrix(matrix, center=center, crs=crs)
    rmse = float(np.sqrt(np.mean(residual[keep] ** 2)))
    return RobustFit(transform, keep, rmse)
