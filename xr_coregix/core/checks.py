"""Reliability checks of a fit: a confidently wrong transform is worse than none."""

from __future__ import annotations

import math

from .exclusion import LAYER_SHARE
from .search import MAX_AMBIGUITY, MIN_SIGNIFICANCE, SEARCH_SIDE
from .transform import GUARD_HINT_SHARE, Diagnostics, RigidTransform

METRIC_TOLERANCE = 0.02  # an aligned pair's metric may get this much worse (relative): noise
# A fit that moves pixels less than this (reference pixels) is not refused for a worse metric:
# the start then lies on the pixel grid, where the interpolation does not smooth the moving
# image, and the metric can be higher there than at the true sub-pixel fit (measured on raw
# values of a band against its copy shifted (-0.3, 0.2) px: 3 % worse at a fit 0.004 px off).
METRIC_MIN_MOVE = 1.0
STAGE_AGREEMENT_PIXELS = 1.0  # the rigid stage may move the solve area's centre this much
MIN_INLIER_SHARE = 0.5  # a chunked fit must keep at least this share of its anchors
# A fit whose error may reach a pixel of its solve grid (its error bound, 9 in 10 cases) is no
# sub-pixel fit, whatever else it passes: chunks or windows that disagree by pixels, or too
# little structure.
MAX_ERROR_BOUND = 1.0


def moved_pixels(fit: RigidTransform, start: tuple[float, float] = (0.0, 0.0)) -> float:
    """The most a fit moves a point of its solve area away from where a pure translation
    ``start`` (CRS units) puts it, in reference pixels (its diagnostics give the area).

    Parameters
    ----------
    fit : RigidTransform
        A fit with diagnostics.
    start : tuple of float
        The translation the solve started from (and took its ``metric_before`` at).

    Returns
    -------
    float
    """
    diag = fit.diagnostics
    reach = 0.5 * math.hypot(*diag.solve_shape) * max(diag.solve_resolution)
    tx, ty = fit.translation
    return (math.hypot(tx - start[0], ty - start[1]) + abs(fit.rotation) * reach) / diag.pixel_size


def metric_got_worse(fit: RigidTransform, start: tuple[float, float] = (0.0, 0.0)) -> bool:
    """Whether the solve made the metric worse, beyond ``METRIC_TOLERANCE``, and moved
    pixels more than ``METRIC_MIN_MOVE`` from ``start`` to do so.

    A pair that starts aligned can only lose a little to sampling noise; a solve that wandered
    off (no structure, or diverged) loses more. Within a pixel of the start the interpolation
    alone can make the metric worse (the start sees the moving band unsmoothed), so the metric
    is no evidence against a fit there.

    Parameters
    ----------
    fit : RigidTransform
        A fit with diagnostics (a single solve's, a chunk's or a chunked fit's).
    start : tuple of float
        The translation (CRS units) the solve started from, where ``metric_before`` was taken:
        the identity for a single solve, the global search's shift for a chunk.

    Returns
    -------
    bool
    """
    diag = fit.diagnostics
    worse = diag.metric_after > diag.metric_before + METRIC_TOLERANCE * abs(diag.metric_before)
    return worse and moved_pixels(fit, start) > METRIC_MIN_MOVE


# The layer check (Diagnostics.layer_shifts) calls a fit led by a second layer when leaving out
# either band's cloud side moves it more than this (solve pixels), or LAYER_SIGMAS times its
# standard error, whichever is larger, both ways alike. Measured (docs/reliability.md): the
# Landsat crop of tests/data, B8 against B4 without a mask (0.86 px off the ground, 0.013 px
# precision), 0.63 px both ways; clear and masked cross-band pairs (Landsat B3/B5/B8, the
# Sentinel-2 crop's B08, B11, B8A, either way round) 0.17 px at most for the smaller way.
LAYER_PIXELS = 0.3
LAYER_SIGMAS = 6.0
LAYER_AGREEMENT = 0.5  # least cosine between the two ways' moves: one layer moves them alike


def layer_allowance(sigma: float | None) -> float:
    """How far (solve pixels) leaving out a band's cloud side may move a fit whose shift has
    the standard error ``sigma`` (solve pixels; None: unknown).

    Examples
    --------
    >>> layer_allowance(0.01), layer_allowance(0.1), layer_allowance(None)
    (0.3, 0.6000000000000001, 0.3)
    """
    return max(LAYER_PIXELS, LAYER_SIGMAS * (sigma or 0.0))


def layer_problem(diag: Diagnostics) -> str:
    """What the layer check says against a fit (empty when it passes or was not run).

    Leaving out the cloud side of the fixed band, then of the moving band, must not move the
    fit: when both move it alike, beyond :func:`layer_allowance`, the fit follows a layer the
    ground does not (clouds displaced against it).

    Parameters
    ----------
    diag : Diagnostics
        The diagnostics of a single solve.

    Returns
    -------
    str

    Examples
    --------
    >>> from dataclasses import replace
    >>> from xr_coregix.core.transform import Diagnostics
    >>> diag = Diagnostics(-0.5, -0.6, 1.0, (30.0, 30.0), (300, 300), 30.0, True,
    ...                    shift_precision=(0.01, 0.01),
    ...                    layer_shifts=((0.05, -0.62), (0.03, -0.64)))
    >>> layer_problem(diag)[:44]
    'leaving out the cloud side of either band mo'
    >>> layer_problem(replace(diag, layer_shifts=((0.05, -0.12), (0.03, -0.64))))
    ''
    >>> layer_problem(replace(diag, layer_shifts=(None, (0.03, -0.14))))
    ''
    >>> layer_problem(replace(diag, layer_shifts=((0.6, 0.1), (-0.5, 0.0))))  # opposite ways
    ''
    """
    if diag.layer_shifts is None or None in diag.layer_shifts:
        return ""
    one, other = diag.layer_shifts
    solve_pixel = max(diag.solve_resolution) / diag.pixel_size  # in reference pixels
    lengths = math.hypot(*one) / solve_pixel, math.hypot(*other) / solve_pixel
    sigma = None if diag.shift_precision is None else math.hypot(*diag.shift_precision)
    if diag.chunks:  # measured without it (see xr_coregix.core.refinements.layer_check)
        sigma = None
    if min(lengths) <= layer_allowance(None if sigma is None else sigma / solve_pixel):
        return ""
    if one[0] * other[0] + one[1] * other[1] < LAYER_AGREEMENT * math.hypot(*one) * math.hypot(
        *other
    ):  # they point different ways: content the bands see differently, not one layer
        return ""
    return (
        f"leaving out the cloud side of either band moves the fit: by ({one[0]:+.2f}, "
        f"{one[1]:+.2f}) px without the brightest {LAYER_SHARE:.0%} of moving, by ({other[0]:+.2f}, "
        f"{other[1]:+.2f}) px without that of fixed (x east, y north; coldest in thermal bands): "
        "clouds, haze or other bright content lead it, a layer the ground does not follow. Pass "
        "cloud masks (moving_mask=, fixed_mask=), e.g. from the scenes' quality bands"
    )


NO_MINIMUM = (
    "the metric does not curve upwards about the fit (flat, or falling away in some "
    "direction): the solve settled on no minimum, so no precision can be given"
)


def _guard_hint(diag: Diagnostics) -> str:
    """Words for a failed match when masks and the cloud guard kept much out."""
    if diag.cloud_excluded is None or max(diag.cloud_excluded) < GUARD_HINT_SHARE:
        return ""
    moving, fixed = diag.cloud_excluded
    return (
        f"; masks and the cloud guard kept {moving:.0%} of moving's and {fixed:.0%} of fixed's "
        "pixels out as cloud: if much of that is ground (water, snow, bright fields), pass "
        "cloud_guard=False"
    )


def search_problems(diag: Diagnostics) -> list[str]:
    """What the global search says against a fit: no match, or more than one.

    Parameters
    ----------
    diag : Diagnostics
        The diagnostics of a solve.

    Returns
    -------
    list of str
    """
    if diag.search_significance is None:
        return []
    found = []
    if diag.search_significance < MIN_SIGNIFICANCE:
        reach = diag.search_reach / diag.pixel_size
        found.append(
            f"no significant match between the rasters (correlation peak "
            f"{diag.search_significance:.1f} times the spread of the surface; a match gives "
            f"{MIN_SIGNIFICANCE:g} or more): unrelated ground, or an offset beyond the capture "
            f"range of {reach:.0f} px (a quarter of the overlap's smaller side)" + _guard_hint(diag)
        )
    elif diag.search_ambiguity > MAX_AMBIGUITY:
        found.append(
            f"the rasters match at more than one offset (the second correlation peak is "
            f"{diag.search_ambiguity:.2f} of the first): periodic content, or two layers (clouds "
            "displaced against the ground: pass a cloud mask)"
        )
    return found


def _disagrees_with_search(fit: RigidTransform, reach: float) -> str | None:
    """Whether the fit moved the centre of the solve area far from where the search put it
    (more than a coarse search pixel and a half, plus what the rotation moves)."""
    diag = fit.diagnostics
    if diag.search_shift is None or search_problems(diag) or diag.chunks:
        return None
    cx, cy = fit.center
    fx, fy = fit(cx, cy)
    apart = math.hypot(fx - cx - diag.search_shift[0], fy - cy - diag.search_shift[1])
    coarse = math.ceil(max(diag.solve_shape) / SEARCH_SIDE) * max(diag.solve_resolution)
    allowed = 1.5 * coarse + abs(fit.rotation) * reach
    if apart <= allowed:
        return None
    return (
        f"the fit and the global search disagree by {apart / diag.pixel_size:.1f} px on where "
        "the centre of the solve area goes: the MI stages settled elsewhere than the best match"
    )


def problems(fit: RigidTransform, max_shift: float) -> tuple[str, ...]:
    """What is wrong with ``fit``, in words (empty when it passes every check).

    Checks: the metric did not get worse (:func:`metric_got_worse`); no point of the solve
    area moves more than ``max_shift`` reference pixels; the translation stage and the final
    fit agree on where the centre of the solve area goes (within ``STAGE_AGREEMENT_PIXELS``
    plus the displacement the fitted rotation makes at the edge of the solve area); the coarse
    global search found one clear match (:func:`search_problems`) and the fit agrees with it
    within a search pixel and a half; a chunked fit keeps at least ``MIN_INLIER_SHARE`` of its
    anchors; a single solve's metric curves upwards about its fit (``metric_curved``) and
    does not move when either band's cloud side is left out (:func:`layer_problem`); the fit's
    error bound stays within ``MAX_ERROR_BOUND`` solve pixels.

    Parameters
    ----------
    fit : RigidTransform
        A fit with diagnostics.
    max_shift : float
        Largest believable displacement, in reference pixels.

    Returns
    -------
    tuple of str
    """
    diag = fit.diagnostics
    if diag is None:
        return ()
    found = search_problems(diag)
    reach = 0.5 * math.hypot(*diag.solve_shape) * max(diag.solve_resolution)
    moved = moved_pixels(fit)
    if metric_got_worse(fit):
        found.append(f"the metric got worse ({diag.metric_before:.4f} -> {diag.metric_after:.4f})")
    if moved > max_shift:
        found.append(
            f"the fit moves pixels up to {moved:.1f} px, more than max_shift={max_shift:g}: "
            "a diverged solve, or a larger offset than expected (then raise max_shift)"
        )
    stage = next((s for s in diag.stages if s.name == "translation"), None)
    if stage is not None and len(diag.stages) > 1 and not diag.chunks:
        cx, cy = fit.center
        fx, fy = fit(cx, cy)
        apart = math.hypot(fx - cx - stage.translation[0], fy - cy - stage.translation[1])
        # a translation-only optimum of a rotated pair may sit anywhere the rotation reaches
        allowed = STAGE_AGREEMENT_PIXELS + abs(fit.rotation) * reach / diag.pixel_size
        if apart / diag.pixel_size > allowed:
            found.append(
                f"the translation and rigid stages disagree by {apart / diag.pixel_size:.2f} px "
                "at the centre of the solve area"
            )
    disagreement = _disagrees_with_search(fit, reach)
    if disagreement:
        found.append(disagreement)
    if diag.chunks:
        kept = diag.anchors_used
        total = kept + diag.anchors_rejected
        if total and kept / total < MIN_INLIER_SHARE:
            found.append(f"the global fit kept only {kept} of {total} anchors: the chunks disagree")
    if diag.metric_curved is False:
        found.append(NO_MINIMUM)
    layered = layer_problem(diag)
    if layered:
        found.append(layered)
    imprecision = _imprecision(diag)
    if imprecision:
        found.append(imprecision)
    return tuple(found)


def _imprecision(diag: Diagnostics) -> str:
    """Why a fit's error bound rules it out (empty when it does not): beyond
    ``MAX_ERROR_BOUND`` pixels of its solve grid, or of the moving band as solved when that is
    coarser (a coarser ``solve_resolution``, or a 20 m band against a 10 m reference, asks for
    less)."""
    if diag.error_bound is None:
        return ""
    solve = max(diag.solve_resolution)
    unit = max(solve, diag.moving_resolution or 0.0)
    pixels = diag.error_bound * diag.pixel_size / unit
    if pixels <= MAX_ERROR_BOUND:
        return ""
    grid = "solve pixels" if unit == solve else "pixels of the moving band"
    return (
        f"the fit is imprecise: its error may reach {diag.error_bound:.2f} px ({pixels:.2f} "
        f"{grid}; its bound in 9 of 10 cases): parts of the area (chunks, or windows of a "
        "single solve) that disagree, content that differs between the rasters, or too little "
        "structure"
    )
