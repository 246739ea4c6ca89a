"""Invalid areas connected to a raster's exterior, and their widening by a margin.

Connectivity to the exterior is a property of the whole raster, but it is found chunk by
chunk: each chunk labels its invalid components (8-connectivity) and only the strips of labels
along its four edges leave it (:class:`EdgeLabels`); one small union-find over the outermost
lines joins components across chunk boundaries and marks the ones that reach the raster's
border (:func:`exterior_labels`); each chunk then keeps its components so marked and widens
them, seeing its neighbours' exterior through their facing strips (:func:`widened_block`).
Memory follows the chunk and the strips, not the raster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk


class EdgeLabels(NamedTuple):
    """The component labels (0: a valid pixel) of the strips along a chunk's four edges:
    ``top`` and ``bottom`` are rows, ``left`` and ``right`` columns, as many as the strips are
    wide (the outermost line joins chunks; the rest serves widening across chunks)."""

    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray


def label_invalid(invalid: np.ndarray) -> np.ndarray:
    """Label the 8-connected components of ``invalid`` (int32; 0 where valid), deterministically.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 0]], bool)
    >>> label_invalid(m).tolist()  # the diagonal pair is one component
    [[1, 0, 0], [0, 1, 0], [0, 0, 0], [2, 2, 0]]
    """
    invalid = np.asarray(invalid, dtype=np.uint8)
    if invalid.size == 0:  # ITK divides by the size
        return np.zeros(invalid.shape, np.int32)
    image = sitk.GetImageFromArray(invalid)
    return sitk.GetArrayFromImage(sitk.ConnectedComponent(image, True)).astype(np.int32)


def edge_labels(labels: np.ndarray, width: int = 1) -> EdgeLabels:
    """The labels of the ``width``-wide strips along the four edges of a labelled chunk."""
    return EdgeLabels(
        labels[:width].copy(),
        labels[-width:].copy(),
        labels[:, :width].copy(),
        labels[:, -width:].copy(),
    )


def _touching(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs ``(a[k], b[k + d])``, d in -1, 0, 1, of two facing edges: the 8-neighbours across
    a chunk boundary, both invalid."""
    n = len(a)
    pairs = [np.stack([a[max(0, -d) : n - max(0, d)], b[max(0, d) : n - max(0, -d)]], 1)
             for d in (-1, 0, 1)]  # fmt: skip
    pairs = np.concatenate(pairs)
    return pairs[(pairs > 0).all(axis=1)]


def exterior_labels(edges: Sequence[Sequence[EdgeLabels]]) -> list[list[np.ndarray]]:
    """For each chunk of a row-major grid of chunks, its component labels that reach the
    raster's border through invalid pixels (of any chunk).

    Parameters
    ----------
    edges : sequence of sequences of EdgeLabels
        ``edges[i][j]``: the edge labels of chunk (i, j) (a 2-D object array will do).

    Returns
    -------
    list of list of numpy.ndarray
        The exterior labels of each chunk.
    """
    rows, cols = len(edges), len(edges[0])
    sizes = [[int(max(e.max(initial=0) for e in chunk)) for chunk in line] for line in edges]
    lines = [
        [EdgeLabels(e.top[0], e.bottom[-1], e.left[:, 0], e.right[:, -1]) for e in line]
        for line in edges
    ]
    offsets = np.cumsum([0] + [n for line in sizes for n in line])[:-1].reshape(rows, cols)
    parent = np.arange(int(offsets[-1, -1]) + sizes[-1][-1] + 1)

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def join(a: tuple[int, int], b: tuple[int, int], pairs: np.ndarray) -> None:
        ids = np.unique(pairs + [offsets[a], offsets[b]], axis=0)
        for x, y in ids.tolist():
            parent[root(x)] = root(y)

    for i, j in np.ndindex(rows, cols):
        here = lines[i][j]
        if j + 1 < cols:
            join((i, j), (i, j + 1), _touching(here.right, lines[i][j + 1].left))
        if i + 1 < rows:
            join((i, j), (i + 1, j), _touching(here.bottom, lines[i + 1][j].top))
        if i + 1 < rows and j + 1 < cols:  # the corners meeting diagonally
            corner = np.array([[here.bottom[-1], lines[i + 1][j + 1].top[0]]])
            join((i, j), (i + 1, j + 1), corner[(corner > 0).all(axis=1)])
            corner = np.array([[lines[i][j + 1].bottom[0], lines[i + 1][j].top[-1]]])
            join((i, j + 1), (i + 1, j), corner[(corner > 0).all(axis=1)])
    seeds = set()
    for i, j in np.ndindex(rows, cols):
        here = lines[i][j]
        border = [here.top] * (i == 0) + [here.bottom] * (i == rows - 1)
        border += [here.left] * (j == 0) + [here.right] * (j == cols - 1)
        for line in border:
            seeds.update(root(int(offsets[i, j]) + int(v)) for v in np.unique(line[line > 0]))
    out = []
    for i in range(rows):
        line = []
        for j in range(cols):
            candidates = np.unique(np.concatenate([e.ravel() for e in edges[i][j]]))
            candidates = candidates[candidates > 0]
            keep = [root(int(offsets[i, j]) + int(v)) in seeds for v in candidates]
            line.append(candidates[np.array(keep, dtype=bool)])
        out.append(line)
    return out


def widened_block(
    exterior: np.ndarray, around: dict[tuple[int, int], np.ndarray], depth: int
) -> np.ndarray:
    """A chunk's exterior mask widened by ``depth`` pixels, seeing its neighbours' exteriors.

    Parameters
    ----------
    exterior : numpy.ndarray of bool
        The chunk's exterior mask.
    around : dict
        For each neighbouring chunk present, keyed by its offset ``(di, dj)`` (-1, 0 or 1), the
        exterior mask of its ``depth``-wide part facing this chunk (``depth`` rows or columns,
        or a ``depth x depth`` corner: :func:`facing`).
    depth : int
        Pixels to widen by.

    Returns
    -------
    numpy.ndarray of bool
        The widened mask, of the chunk's shape.

    Examples
    --------
    >>> import numpy as np
    >>> above = np.zeros((2, 4), bool); above[1, 0] = True  # touching this chunk's top left
    >>> widened_block(np.zeros((4, 4), bool), {(-1, 0): above}, 2).sum(axis=1).tolist()
    [3, 3, 0, 0]
    """
    h, w = exterior.shape
    d = depth
    spans = (
        {-1: (0, d), 0: (d, d + h), 1: (d + h, 2 * d + h)},
        {-1: (0, d), 0: (d, d + w), 1: (d + w, 2 * d + w)},
    )
    big = np.zeros((h + 2 * d, w + 2 * d), dtype=bool)
    big[d : d + h, d : d + w] = exterior
    for (di, dj), piece in around.items():
        (r0, r1), (c0, c1) = spans[0][di], spans[1][dj]
        big[r0:r1, c0:c1] = piece
    return widen(big, d)[d : d + h, d : d + w]


def facing(strips: EdgeLabels, di: int, dj: int, depth: int) -> np.ndarray:
    """The ``depth``-wide part of a chunk's edge strips facing the chunk it lies at offset
    ``(di, dj)`` from: what that chunk's :func:`widened_block` takes as ``around[(di, dj)]``."""
    d = depth
    if di:  # this chunk lies above (-1) or below (1) the other: its bottom or top strip
        strip = strips.bottom[-d:] if di < 0 else strips.top[:d]
        return strip if not dj else (strip[:, -d:] if dj < 0 else strip[:, :d])
    return strips.right[:, -d:] if dj < 0 else strips.left[:, :d]


def exterior_invalid(invalid: np.ndarray) -> np.ndarray:
    """Invalid pixels connected (8-connectivity) to the outside of the raster.

    Interior holes (a cloud mask, a lake of nodata) are not connected to the exterior and are
    left out; the collar around a scene, and any invalid inlet reaching it, are kept.

    Parameters
    ----------
    invalid : numpy.ndarray of bool
        2-D mask of invalid pixels.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((5, 5), bool); m[0, :] = True; m[2, 2] = True
    >>> int(exterior_invalid(m).sum())  # the top row, not the interior hole
    5
    """
    labels = label_invalid(invalid)
    return np.isin(labels, exterior_labels([[edge_labels(labels)]])[0][0])


def widen(mask: np.ndarray, depth: int) -> np.ndarray:
    """``mask`` dilated by a square of ``depth`` pixels on every side.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((7, 7), bool); m[3, 3] = True
    >>> int(widen(m, 2).sum())
    25
    """
    mask = np.asarray(mask, dtype=bool)
    if depth <= 0 or not mask.any():
        return mask.copy()
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    dilated = sitk.BinaryDilate(image, [depth, depth], sitk.sitkBox, 0, 1)
    return sitk.GetArrayViewFromImage(dilated).astype(bool)
