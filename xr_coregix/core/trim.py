"""Invalid areas connected to a raster's exterior, and their widening by a margin.

Connectivity to the exterior is a property of the whole raster, but it is found chunk by
chunk: each chunk labels its invalid components (8-connectivity), only the labels on its four
edges leave it (:class:`EdgeLabels`), one small union-find over those edges joins components
across chunk boundaries and marks the ones that reach the raster's border
(:func:`exterior_labels`), and each chunk then keeps its components so marked. Memory follows
the chunk, not the raster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk


class EdgeLabels(NamedTuple):
    """The component labels along a chunk's four edges (0: a valid pixel)."""

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


def edge_labels(labels: np.ndarray) -> EdgeLabels:
    """The labels on the four edges of a labelled chunk."""
    return EdgeLabels(
        labels[0].copy(), labels[-1].copy(), labels[:, 0].copy(), labels[:, -1].copy()
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
        here = edges[i][j]
        if j + 1 < cols:
            join((i, j), (i, j + 1), _touching(here.right, edges[i][j + 1].left))
        if i + 1 < rows:
            join((i, j), (i + 1, j), _touching(here.bottom, edges[i + 1][j].top))
        if i + 1 < rows and j + 1 < cols:  # the corners meeting diagonally
            corner = np.array([[here.bottom[-1], edges[i + 1][j + 1].top[0]]])
            join((i, j), (i + 1, j + 1), corner[(corner > 0).all(axis=1)])
            corner = np.array([[edges[i][j + 1].bottom[0], edges[i + 1][j].top[-1]]])
            join((i, j + 1), (i + 1, j), corner[(corner > 0).all(axis=1)])
    seeds = set()
    for i, j in np.ndindex(rows, cols):
        here = edges[i][j]
        border = [here.top] * (i == 0) + [here.bottom] * (i == rows - 1)
        border += [here.left] * (j == 0) + [here.right] * (j == cols - 1)
        for line in border:
            seeds.update(root(int(offsets[i, j]) + int(v)) for v in np.unique(line[line > 0]))
    out = []
    for i in range(rows):
        line = []
        for j in range(cols):
            candidates = np.unique(np.concatenate(edges[i][j]))
            candidates = candidates[candidates > 0]
            keep = [root(int(offsets[i, j]) + int(v)) in seeds for v in candidates]
            line.append(candidates[np.array(keep, dtype=bool)])
        out.append(line)
    return out


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
