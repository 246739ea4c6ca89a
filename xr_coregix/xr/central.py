"""The central window of the overlap, where a chunked fit is checked, and refined when the
window is the whole overlap.

A chunked fit is one rigid transform fitted to the anchors of its chunks, each solved alone on
a part of the overlap. Across bands each chunk carries its own content's offset (tenths of a
pixel), so the global fit is less exact than one solve over the whole overlap (Landsat B5
against B4 at split factor 2: 0.068 px against 0.017). Where the window that holds at most
``LAYER_WINDOW_PIXELS`` solve pixels is the whole overlap, the fit is refined once more there
as a single solve's last level (:func:`xr_coregix.core.refinements.refine`). A refinement that moves
it by more than ``REFINE_LIMIT`` solve pixels is not taken: the chunks and the whole then
disagree, and the chunks' consensus is what keeps the ground when clouds lead part of the
scene. A larger overlap is not refined: its centre alone would give the rotation less well
than the chunks' spread over the overlap does. Nor is a fit without the cloud guard: the
refined fit must pass the layer check, which needs the guard's cloud sides.

When that window is the whole overlap, the fit's rotation is tested there as a single solve's
is (:func:`xr_coregix.core.refinements.rotation_tested`), after the refinement; a larger
overlap's was tested on its chunks' offsets (:mod:`xr_coregix.xr.chunked`).

On the same window the layer check is made (:func:`xr_coregix.core.refinements.layer_check`). The
chunks run no check of their own: a chunk is small, and in the chunks of the Landsat crop of
``tests/data`` the clouds' lead did not show (moves of 0.15 px at most, against 1.05 px over the
crop's halves). The global fit is what is kept, and the check is made on it once.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..core.refinements import LAYER_WINDOW_PIXELS, layer_check, refine, rotation_tested
from ..core.transform import RigidTransform, displacement_error
from .problem import Problem, pixel_size, solve_images

REFINE_LIMIT = 1.0  # solve pixels: the most a refinement may move the fit (mean over the window)


def _central(window: slice, size: int) -> slice:
    """The central ``size`` of ``window`` (all of it when it is smaller)."""
    if window.stop - window.start <= size:
        return window
    start = window.start + (window.stop - window.start - size) // 2
    return slice(start, start + size)


def refined_and_checked(problem: Problem, fit: RigidTransform) -> RigidTransform:
    """A chunked ``fit`` refined on the whole overlap when it fits in the central window, and
    the layer check's moves on that window in its diagnostics (``layer_shifts``). The window is
    read here, the moving band's placed by ``fit``. Without the cloud guard ``fit`` is returned
    as it is: there is no layer check then, and a refined fit nothing checks would replace the
    chunks' consensus, which is what keeps the ground when clouds lead part of the scene.

    Parameters
    ----------
    problem : Problem
        The problem, guarded when the cloud guard is on (:meth:`Problem.guarded`: its bands'
        cloud sides set).
    fit : RigidTransform
        The chunked fit, with diagnostics.

    Returns
    -------
    RigidTransform
        The refined fit when the refinement ran and moved it within ``REFINE_LIMIT``, else
        ``fit``.
    """
    side = math.isqrt(LAYER_WINDOW_PIXELS) * problem.spec.fixed_factor
    rows, cols = (_central(window, side) for window in problem.overlap)
    if problem.spec.fixed_exclusion.layer is None:  # no guard, no cloud sides: no check
        return fit
    box = problem.fixed_box[rows, cols]
    cx, cy = box.affine @ (box.shape[1] / 2, box.shape[0] / 2)
    x, y = fit(cx, cy)
    placed = replace(problem, spec=replace(problem.spec, shift=(x - cx, y - cy)))
    window = placed.window(rows, cols).loaded()
    (fixed, _), (moving, _) = solve_images(window, placed.spec, threads=2)
    settings = problem.spec.settings
    whole = (rows, cols) == tuple(problem.overlap)
    refined = refine(fixed, moving, fit, settings=settings) if whole else None
    # displacement_error: the mean distance in pixels of the grid, the solve grid here
    if refined is not None and displacement_error(refined, fit, fixed.geobox)[0] <= REFINE_LIMIT:
        fit = refined
    if whole:  # the rotation tested over the whole overlap, as a single solve's is
        fit, error, left_out = rotation_tested(fixed, moving, fit, settings=settings)
        fit = fit.with_diagnostics(
            replace(fit.diagnostics, rotation_error=error, rotation_left_out=left_out)
        )
    layers = layer_check(
        fixed, moving, fit, pixel_size=pixel_size(problem.fixed_box), settings=settings
    )
    return fit.with_diagnostics(replace(fit.diagnostics, layer_shifts=layers))
