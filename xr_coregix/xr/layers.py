"""The layer check of a chunked fit: one window at the centre of the overlap, where the global
fit is refined without each band's cloud side in turn (:func:`xr_coregix.core.solve.layer_check`).

Its chunks run no check of their own: a chunk is small, and in the chunks of the Landsat crop of
``tests/data`` the clouds' lead did not show (moves of 0.15 px at most, against 1.05 px over
the crop's halves). The global fit is what is kept, and the check is made on it once.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..core.solve import LAYER_WINDOW_PIXELS, layer_check
from ..core.transform import RigidTransform
from .problem import Problem, pixel_size, solve_images


def _central(window: slice, size: int) -> slice:
    """The central ``size`` of ``window`` (all of it when it is smaller)."""
    if window.stop - window.start <= size:
        return window
    start = window.start + (window.stop - window.start - size) // 2
    return slice(start, start + size)


def layer_checked(problem: Problem, fit: RigidTransform) -> RigidTransform:
    """``fit`` with the layer check's moves in its diagnostics (``layer_shifts``), measured on
    the central window of the overlap that holds at most ``LAYER_WINDOW_PIXELS`` solve pixels
    (read here), the moving band's window placed by ``fit``.

    Parameters
    ----------
    problem : Problem
        The guarded problem (:meth:`Problem.guarded`: its bands' cloud sides set).
    fit : RigidTransform
        The chunked fit, with diagnostics.

    Returns
    -------
    RigidTransform
    """
    side = math.isqrt(LAYER_WINDOW_PIXELS) * problem.spec.fixed_factor
    rows, cols = (_central(window, side) for window in problem.overlap)
    box = problem.fixed_box[rows, cols]
    cx, cy = box.affine @ (box.shape[1] / 2, box.shape[0] / 2)
    x, y = fit(cx, cy)
    placed = replace(problem, spec=replace(problem.spec, shift=(x - cx, y - cy)))
    window = placed.window(rows, cols).loaded()
    (fixed, _), (moving, _) = solve_images(window, placed.spec, threads=2)
    layers = layer_check(
        fixed, moving, fit, pixel_size=pixel_size(problem.fixed_box), settings=problem.spec.settings
    )
    return fit.with_diagnostics(replace(fit.diagnostics, layer_shifts=layers))
