"""Which chunks of a chunked fit follow the ground: layers of agreeing chunks, and the choice.

Clouds displaced by parallax (or moved between two dates) form one coherent layer: the chunks
whose solves they led astray agree with each other as well as the chunks that kept to the
ground do. A median or a trimmed mean of all chunks then lands on the cloudier layer when it
has more chunks, or between the two. Instead the chunks are grouped into layers (rigid
transforms that several chunks agree with), every chunk carries its clear share (how much of
it masks and the cloud guard found free of cloud), and a layer is chosen by the clear chunks
it holds before its size: a cloudy chunk never outvotes a clear one. Two large layers that the
clear chunks cannot tell apart are not averaged: the choice is refused.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .anchors import kabsch

CLEAR_SHARE = 0.9  # a chunk with at least this share free of cloud counts as clear
LAYER_SHARE = 0.2  # a second group of agreeing chunks is a layer from this share of chunks on
MAX_HYPOTHESES = 600  # most chunk pairs tried as layer transforms


@dataclass(frozen=True)
class Layer:
    """Chunks that agree on one rigid transform.

    Attributes
    ----------
    members : tuple of int
        Positions of the chunks (in the lists given to :func:`find_layers`).
    clear : int
        How many of them are clear (clear share at least ``CLEAR_SHARE``).
    clear_share : float
        Their summed clear share.
    matrix : numpy.ndarray
        The 2 x 3 rigid map fitted to their anchors (points to points).
    """

    members: tuple[int, ...]
    clear: int
    clear_share: float
    matrix: np.ndarray

    @property
    def score(self) -> tuple[int, float]:
        """Clear chunks first, then the clear share of all members."""
        return self.clear, self.clear_share

    def shift(self, point: np.ndarray) -> np.ndarray:
        """Where the layer moves ``point`` (x, y), minus ``point``."""
        return self.matrix[:, :2] @ point + self.matrix[:, 2] - point


def _rms(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """RMS residual of every chunk's anchors (``src``/``dst``: chunks x points x 2)."""
    moved = src @ matrix[:, :2].T + matrix[:, 2]
    return np.sqrt(np.mean(np.sum((moved - dst) ** 2, axis=-1), axis=-1))


def _pairs(count: int) -> list[tuple[int, ...]]:
    """Chunk pairs to try (all, or an even, deterministic sample of them), or the one chunk."""
    if count == 1:
        return [(0,)]
    pairs = list(itertools.combinations(range(count), 2))
    if len(pairs) > MAX_HYPOTHESES:
        step = len(pairs) / MAX_HYPOTHESES
        pairs = [pairs[int(i * step)] for i in range(MAX_HYPOTHESES)]
    return pairs


def _best_layer(
    src: np.ndarray, dst: np.ndarray, clear: np.ndarray, among: np.ndarray, tolerance: float
) -> Layer | None:
    """The layer with the best score among the chunks ``among`` (indices), or None."""
    best = None
    for pair in _pairs(len(among)):
        seed = among[list(pair)]
        matrix, _ = kabsch(src[seed].reshape(-1, 2), dst[seed].reshape(-1, 2))
        members = among[_rms(matrix, src[among], dst[among]) <= tolerance]
        if len(members) < len(seed):
            continue
        # refit on every member, then take the members of the refit
        matrix, _ = kabsch(src[members].reshape(-1, 2), dst[members].reshape(-1, 2))
        members = among[_rms(matrix, src[among], dst[among]) <= tolerance]
        if len(members) == 0:
            continue
        layer = Layer(
            tuple(int(m) for m in members),
            int(np.sum(clear[members] >= CLEAR_SHARE)),
            float(np.sum(clear[members])),
            matrix,
        )
        if best is None or (layer.score, len(layer.members)) > (best.score, len(best.members)):
            best = layer
    return best


def find_layers(
    src: np.ndarray, dst: np.ndarray, clear: np.ndarray, tolerance: float
) -> tuple[Layer, Layer | None]:
    """The best layer of the chunks, and a second one when the rest hold another.

    Parameters
    ----------
    src, dst : numpy.ndarray
        Anchors of each chunk and where its own transform takes them, shape
        (chunks, points, 2).
    clear : numpy.ndarray
        Clear share of each chunk, 0 to 1.
    tolerance : float
        Largest RMS residual of a chunk's anchors (CRS units) for it to agree with a layer.

    Returns
    -------
    first : Layer
        The layer with the most clear chunks (then the largest clear share).
    second : Layer or None
        The best layer of the chunks outside ``first``, when it holds at least two chunks and
        ``LAYER_SHARE`` of them all; else None.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.stack(np.meshgrid(np.arange(3.0), np.arange(3.0)), -1).reshape(-1, 2)
    >>> src = np.stack([grid + [10.0 * i, 0] for i in range(6)])
    >>> dst = src + np.array([[[0.5, 0]]] * 2 + [[[12.5, 0]]] * 4)  # 2 clear, 4 cloudy chunks
    >>> first, second = find_layers(src, dst, np.array([1, 1, .6, .7, .7, .6]), 1.0)
    >>> first.members, second.members, [round(float(v), 2) for v in first.shift(np.zeros(2))]
    ((0, 1), (2, 3, 4, 5), [0.5, 0.0])
    """
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    clear = np.asarray(clear, float)
    everything = np.arange(len(src))
    first = _best_layer(src, dst, clear, everything, tolerance)
    if first is None:  # no two chunks agree: the clearest chunk stands alone
        clearest = int(np.argmax(clear))
        first = _best_layer(src, dst, clear, everything[clearest : clearest + 1], tolerance)
    rest = np.setdiff1d(everything, first.members)
    second = None
    if len(rest) >= 2:
        second = _best_layer(src, dst, clear, rest, tolerance)
        if second is not None and (
            len(second.members) < 2 or len(second.members) < LAYER_SHARE * len(src)
        ):
            second = None
    return first, second


def choose_layer(first: Layer, second: Layer | None) -> Layer | None:
    """The layer the clear chunks support, or None when they support neither clearly.

    ``first`` wins alone, or when it holds more than twice the clear chunks of ``second``.
    Two layers with no clear chunk, or with clear chunks in both in similar numbers, are
    ambiguous: two coherent layers (ground, and clouds or changed ground) that the data cannot
    tell apart.

    Examples
    --------
    >>> import numpy as np
    >>> ground = Layer((0, 1, 2), clear=3, clear_share=3.0, matrix=np.eye(2, 3))
    >>> clouds = Layer((3, 4, 5, 6), clear=0, clear_share=2.4, matrix=np.eye(2, 3))
    >>> choose_layer(ground, clouds) is ground, choose_layer(clouds, clouds)
    (True, None)
    """
    if second is None or first.clear > 2 * second.clear:
        return first
    return None
