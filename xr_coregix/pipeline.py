"""``align_image_pair``: files in, aligned GeoTIFF out; a drop-in for ``coregix`` users."""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .core.transform import (
    SHIFT_AXES,
    RigidTransform,
    chunks_text,
    excluded_text,
    left_out_text,
    metric_text,
    rotation_text,
    shift_text,
)
from .errors import CoregError
from .io import (
    RasterIOError,
    atomic_path,
    check_target,
    open_raster,
    write_geotiff,
)
from .log import console_logging, seconds, stage
from .masks_io import BAND_PREFIX, check_kind, open_mask
from .options import (
    AGAIN,
    CHUNK,
    GRIDS,
    MASK_DILATION,
    STAGES,
    CloudSide,
    Grid,
    MaskKind,
    OnFailure,
    Resampling,
)
from .xr.arguments import ApplyOptions, RegisterOptions
from .xr.bands import select_band
from .xr.masks import check_nodata
from .xr.register import register_with
from .xr.trim import check_depth
from .xr.trim import trim_edge_invalid as trim_edges
from .xr.warp import apply_with

log = logging.getLogger(__name__)


class AlignmentResult(NamedTuple):
    """What :func:`align_image_pair` made: the output path and the fit (unpacks as a pair).

    Examples
    --------
    >>> import tempfile, os, xr_coregix
    >>> moving, fixed = xr_coregix.data.example_paths()
    >>> out = os.path.join(tempfile.mkdtemp(), "aligned.tif")
    >>> path, fit = xr_coregix.align_image_pair(moving, fixed, out)
    >>> path.name, fit.crs.epsg
    ('aligned.tif', 32616)
    """

    output_image_path: Path
    fit: RigidTransform


def _solve_resolution(
    solve_resolution: float | None, solve_resolutions: Sequence[float | None] | None
) -> float | None:
    """coregix's coarse-to-fine ``solve_resolutions``: the finest entry decides (0 = native)."""
    if solve_resolutions is None:
        return solve_resolution
    if solve_resolution is not None:
        raise CoregError("pass solve_resolution or solve_resolutions, not both")
    finest = list(solve_resolutions)[-1] if solve_resolutions else None
    return None if not finest else float(finest)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file: the same path once resolved (``./a.tif`` and
    ``a.tif``, symlinks), or, when both exist, the same file (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return False


def check_distinct(
    inputs: Mapping[str, str | os.PathLike[str] | None],
    outputs: Mapping[str, str | os.PathLike[str] | None],
) -> None:
    """Raise :class:`RasterIOError` when an output would replace an input or another output.

    Both map the argument names (for the message) to paths; None values are left out.
    """
    given = [(name, path) for name, path in outputs.items() if path is not None]
    for k, (name, path) in enumerate(given):
        for other, source in inputs.items():
            if source is not None and same_file(path, source):
                raise RasterIOError(
                    f"{name} {os.fspath(path)!r} is the same file as {other} "
                    f"{os.fspath(source)!r}: writing it would replace that input; choose "
                    "another path"
                )
        for other, earlier in given[:k]:
            if same_file(path, earlier):
                raise RasterIOError(
                    f"{name} {os.fspath(path)!r} is the same file as {other} "
                    f"{os.fspath(earlier)!r}: give each output its own path"
                )


def _mask_path(mask: str | os.PathLike[str] | None) -> str | os.PathLike[str] | None:
    """A mask argument's file, None for ``band:N`` (or no mask)."""
    return None if isinstance(mask, str) and mask.startswith(BAND_PREFIX) else mask


def align_image_pair(
    moving_image_path: str | os.PathLike[str],
    fixed_image_path: str | os.PathLike[str],
    output_image_path: str | os.PathLike[str],
    *,
    band_index: int = 0,
    moving_band_index: int | None = None,
    fixed_band_index: int | None = None,
    moving_nodata: float | None = None,
    fixed_nodata: float | None = None,
    output_nodata: float | None = None,
    min_valid_fraction: float = 0.01,
    temp_dir: str | None = None,
    keep_temp_dir: bool = False,
    log_to_console: bool = False,
    clip_fixed_to_moving: bool = True,
    output_on_moving_grid: bool = True,
    trim_edge_invalid: bool = False,
    edge_trim_depth: int = 8,
    edge_trim_detection_band_index: int = 0,
    edge_trim_invalid_below: float | None = None,
    edge_trim_invalid_above: float | None = None,
    enforce_mutual_valid_mask: bool = True,
    use_edge_proxies: bool = True,
    split_factor: int | None = None,
    solve_resolution: float | None = None,
    solve_resolutions: Sequence[float | None] | None = None,
    output_grid: Grid | None = None,
    transform_out: str | os.PathLike[str] | None = None,
    cog: bool = False,
    resampling: Resampling = "bilinear",
    max_shift: float = 50.0,
    plot: str | os.PathLike[str] | None = None,
    progress: bool = False,
    moving_mask: str | os.PathLike[str] | None = None,
    fixed_mask: str | os.PathLike[str] | None = None,
    moving_mask_kind: MaskKind = "nonzero",
    fixed_mask_kind: MaskKind = "nonzero",
    mask_dilation: int = MASK_DILATION,
    cloud_guard: bool | CloudSide = True,
    on_failure: OnFailure = "raise",
) -> AlignmentResult:
    """Coregister the raster at ``moving_image_path`` to ``fixed_image_path`` and write it.

    The keyword names are those of ``coregix.align_image_pair`` (0.3.0). The rasters are read
    lazily in 1024-pixel blocks; the output is a tiled, deflate-compressed GeoTIFF written
    block by block and atomically (nothing is left at ``output_image_path`` on failure).

    Parameters
    ----------
    moving_image_path, fixed_image_path : path-like
        The source raster and the reference raster (same CRS).
    output_image_path : path-like
        The aligned GeoTIFF.
    band_index : int
        0-based registration band of both rasters, unless overridden by
        ``moving_band_index`` / ``fixed_band_index``.
    moving_nodata, fixed_nodata : float, optional
        Override the nodata metadata of each input.
    output_nodata : float, optional
        Output nodata; default the source's, then the reference's, else 0.
    min_valid_fraction : float
        Smallest share of the overlap valid in both rasters.
    output_on_moving_grid : bool
        Write on the source grid (default) or, when False, on the reference grid.
    output_grid : {"source", "reference", "native"}, optional
        Overrides ``output_on_moving_grid``; ``"native"`` rewrites only the georeference.
    trim_edge_invalid, edge_trim_depth, edge_trim_detection_band_index,
    edge_trim_invalid_below, edge_trim_invalid_above
        Blank ``edge_trim_depth`` pixels around the invalid exterior of the output (see
        :func:`xr_coregix.trim_edge_invalid`).
    use_edge_proxies : bool
        Register gradient-magnitude images (default) or raw values.
    split_factor : int, optional
        Solve ``2**k`` overlapping chunks and fit one transform to their anchors; 0 solves the
        whole overlap at once. Default (None, where coregix's default is 0): derived from the
        raster size, chunks of about 2048 x 2048 solve pixels; rasters up to that size are
        solved at once either way.
    solve_resolution : float, optional
        Solve pixel size in CRS units; ``solve_resolutions`` (coregix's coarse-to-fine list,
        0 meaning native) is accepted and its finest entry used.
    transform_out : path-like, optional
        Also write the fit as JSON there.
    cog : bool
        Write a Cloud Optimized GeoTIFF.
    resampling : str
        Resampling of values, ``"bilinear"`` or ``"nearest"`` (categories) or another GDAL name.
    max_shift : float
        Largest believable shift in reference pixels; an unreliable fit raises
        :class:`RegistrationError` and nothing is written (see ``on_failure``).
    plot : path-like, optional
        Also write a before/after comparison figure (PNG; needs matplotlib) there.
    progress : bool
        Show one labelled progress bar on standard error for each of the two long steps,
        ``registering`` and ``warping + writing`` (see :class:`xr_coregix.log.ProgressBar`).
    log_to_console : bool
        Log each step and its time to standard error: the inputs opened (size, data type, CRS,
        pixel size, nodata), the registration (split factor and chunks, shift in pixels x east
        and y north, rotation, metric, reliability), the output written (path, size) and the
        total. The messages go to the ``xr_coregix.pipeline`` logger (INFO) either way;
        ``log_to_console`` adds a handler on standard error for the call.
    moving_mask, fixed_mask : path-like or str, optional
        Cloud, shadow or quality masks, kept out of the metric: a single-band raster file in
        the input's CRS, on its grid or on any grid that overlaps it (a finer or coarser quality
        band is put on the input's grid by :func:`register`), or ``"band:N"``, band ``N``
        (0-based, as ``band_index`` counts) of that input image itself. Only pixels clear in
        both rasters count, so one mask suffices when the other raster has none.
    moving_mask_kind, fixed_mask_kind : str
        How each mask's values become "exclude": ``"nonzero"`` (default; any nonzero value
        excludes, the file's nodata pixels do not), ``"landsat-qa-pixel"`` (Landsat
        Collection 2 ``QA_PIXEL``), ``"landsat-bqa"`` (Landsat 8 Collection 1 ``BQA``),
        ``"landsat-bqa-pre"`` (Landsat 8 pre-collection ``BQA``), each read by
        :func:`landsat_qa_mask` (clouds, cirrus and cloud shadows of medium confidence or
        more), or ``"scl"`` (Sentinel-2 L2A scene classification, read by :func:`scl_mask`).
    mask_dilation : int
        Reference pixels by which masked and cloud-guard pixels are grown (default 3).
    cloud_guard : bool or {"auto", "bright", "cold"}
        Also exclude the pixels of each registration band that are outliers on its cloud side
        (see :func:`register`): ``True``/``"auto"`` (default) picks the side, ``"bright"``
        (reflective bands) or ``"cold"`` (thermal bands) chooses it, ``False`` turns it off.
    on_failure : {"raise", "warn"}
        When the fit fails a reliability check: raise :class:`RegistrationError` and write
        nothing (default), or warn (:class:`RegistrationWarning`) and write the output of the
        fit, flagged ``diagnostics.reliable = False``.
    temp_dir, keep_temp_dir, clip_fixed_to_moving, enforce_mutual_valid_mask
        Accepted for coregix compatibility. xr_coregix keeps no temporary folder, always solves
        over the overlap, and always uses only pixels valid in both rasters.

    Returns
    -------
    AlignmentResult
        ``(output_image_path, fit)``.

    Raises
    ------
    CoregError
        On bad arguments, before any pixel is read: among them an output path that is an input
        or another output (the same file once resolved, or a hard link to it), an output path
        that is a folder, a resampling GDAL does not know, an ``edge_trim_depth`` beyond a
        quarter of the output's smaller side.

    Examples
    --------
    >>> import tempfile, os, xr_coregix
    >>> moving, fixed = xr_coregix.data.example_paths()
    >>> out = os.path.join(tempfile.mkdtemp(), "aligned.tif")
    >>> result = xr_coregix.align_image_pair(
    ...     moving_image_path=moving, fixed_image_path=fixed, output_image_path=out,
    ...     output_on_moving_grid=False, trim_edge_invalid=True, edge_trim_depth=2,
    ... )
    >>> round(result.fit.rotation_degrees, 2)
    0.35
    """
    del temp_dir, keep_temp_dir, clip_fixed_to_moving, enforce_mutual_valid_mask
    began = time.perf_counter()
    grid = output_grid or ("source" if output_on_moving_grid else "reference")
    if grid not in GRIDS:
        raise CoregError(f"output_grid={grid!r}: choose one of {GRIDS}")
    warp = ApplyOptions(grid=grid, resampling=resampling, output_nodata=output_nodata)
    # 0-based positions, as coregix counts (rioxarray labels bands 1..N: never a bare int here)
    options = RegisterOptions(
        moving_band={"position": band_index if moving_band_index is None else moving_band_index},
        fixed_band={"position": band_index if fixed_band_index is None else fixed_band_index},
        edge_proxy=use_edge_proxies,
        stages=STAGES,
        moving_nodata=moving_nodata,
        fixed_nodata=fixed_nodata,
        min_valid_fraction=min_valid_fraction,
        solve_resolution=_solve_resolution(solve_resolution, solve_resolutions),
        split_factor=split_factor,
        max_shift=max_shift,
        on_failure=on_failure,
        mask_dilation=mask_dilation,
        cloud_guard=cloud_guard,
    )
    check_kind(moving_mask_kind, "moving_mask_kind")
    check_kind(fixed_mask_kind, "fixed_mask_kind")
    outputs = {
        "output_image_path": output_image_path,
        "transform_out": transform_out,
        "plot": plot,
    }
    check_distinct(
        {
            "moving_image_path": moving_image_path,
            "fixed_image_path": fixed_image_path,
            "moving_mask": _mask_path(moving_mask),
            "fixed_mask": _mask_path(fixed_mask),
        },
        outputs,
    )
    for name, target in outputs.items():
        if target is not None:
            check_target(target, name)
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise CoregError(
            f"plot={os.fspath(plot)!r} needs matplotlib: pip install 'xr-coregix[plot]'"
        )
    detection_band = {"position": edge_trim_detection_band_index}
    with console_logging(log_to_console):
        with stage("opening inputs", log) as step:
            moving = open_raster(moving_image_path, "moving_image_path", chunks=CHUNK)
            fixed = open_raster(fixed_image_path, "fixed_image_path", chunks=CHUNK)
            # what apply and the trim would refuse only after the registration
            if warp.output_nodata is not None:
                check_nodata(warp.output_nodata, moving.dtype, "output_nodata")
            if trim_edge_invalid:
                out_shape = (fixed if grid == "reference" else moving).rio.shape
                check_depth(edge_trim_depth, out_shape, "edge_trim_depth")
                select_band(moving, detection_band, "edge_trim_detection_band_index")
            masks = {
                side: open_mask(
                    mask,
                    kind,
                    image,
                    name=f"{side}_mask",
                    kind_name=f"{side}_mask_kind",
                    image_name=f"{side}_image_path",
                )
                for side, mask, kind, image in (
                    ("moving", moving_mask, moving_mask_kind, moving),
                    ("fixed", fixed_mask, fixed_mask_kind, fixed),
                )
            }
            step.details = "; ".join(
                [
                    f"moving {os.fspath(moving_image_path)!r}: {raster_text(moving)}",
                    f"fixed {os.fspath(fixed_image_path)!r}: {raster_text(fixed)}",
                    *(
                        f"{side} mask {os.fspath(mask)!r} ({kind})"
                        for side, mask, kind in (
                            ("moving", moving_mask, moving_mask_kind),
                            ("fixed", fixed_mask, fixed_mask_kind),
                        )
                        if mask is not None
                    ),
                ]
            )
        start = (
            f"moving band {options.moving_band['position']} onto fixed band "
            f"{options.fixed_band['position']}, "
            f"{'edge proxies' if use_edge_proxies else 'raw values'}, split factor "
            f"{'derived from the size' if split_factor is None else split_factor}"
        )
        with stage("registering", log, start=start, progress=progress) as step:
            fit = register_with(moving, fixed, options, masks["moving"], masks["fixed"])
            step.details = fit_text(fit)

        def aligned_from(raster: Any) -> Any:
            if moving_nodata is not None:
                raster = raster.rio.write_nodata(moving_nodata, encoded=False)
            return apply_with(raster, fit, warp)

        start = (
            f"{os.fspath(output_image_path)!r} on the {grid} grid, {warp.resampling}"
            + (", edges trimmed" if trim_edge_invalid else "")
            + (", COG" if cog else "")
        )
        with stage("warping + writing", log, start=start, progress=progress) as step:
            aligned = aligned_from(moving)
            if trim_edge_invalid:
                # the trim's first pass reads and warps on its own: nothing waits for its
                # second pass
                again = open_raster(
                    moving_image_path, "moving_image_path", chunks=CHUNK, name_prefix=AGAIN
                )
                aligned = trim_edges(
                    aligned,
                    first_pass=aligned_from(again),
                    depth=edge_trim_depth,
                    detection_band=detection_band,
                    invalid_below=edge_trim_invalid_below,
                    invalid_above=edge_trim_invalid_above,
                )
            write_geotiff(aligned, output_image_path, cog=cog)
            size = os.path.getsize(output_image_path) / 2**20
            step.details = (
                f"{os.fspath(output_image_path)!r}: {raster_text(aligned)}, {size:.2f} MiB"
            )
        if transform_out is not None:
            with atomic_path(transform_out) as tmp:
                tmp.write_text(fit.to_json(indent=2) + "\n")
            log.info("wrote the fit to %r", os.fspath(transform_out))
        if plot is not None:
            from .plot import compare

            with stage("plotting", log) as step:
                figure = compare(
                    moving,
                    fixed,
                    fit,
                    moving_band=options.moving_band,
                    fixed_band=options.fixed_band,
                )
                with atomic_path(plot) as tmp:
                    figure.savefig(tmp, format="png", dpi=80)
                step.details = repr(os.fspath(plot))
        log.info("total %s", seconds(time.perf_counter() - began))
    return AlignmentResult(Path(output_image_path), fit)


def raster_text(raster: Any) -> str:
    """A raster's size, data type, CRS, pixel size and nodata, as the log tells them.

    Examples
    --------
    >>> from xr_coregix.data import example_pair
    >>> raster_text(example_pair()[0])
    '1 band x 320 x 320 px, uint16, EPSG:32616, pixel 30 x 30, nodata 0'
    """
    spatial = (raster.rio.y_dim, raster.rio.x_dim)
    bands = math.prod(n for d, n in raster.sizes.items() if d not in spatial)
    crs = raster.rio.crs
    epsg = None if crs is None else crs.to_epsg()
    crs_text = "no CRS" if crs is None else f"EPSG:{epsg}" if epsg else crs.to_string()[:60]
    x_size, y_size = (abs(r) for r in raster.rio.resolution())
    nodata = raster.rio.nodata
    return (
        f"{bands} band{'' if bands == 1 else 's'} x {raster.rio.height} x {raster.rio.width} px, "
        f"{raster.dtype}, {crs_text}, pixel {x_size:g} x {y_size:g}, "
        f"nodata {'none' if nodata is None else f'{nodata:g}'}"
    )


def fit_text(fit: RigidTransform) -> str:
    """A fit as the log tells it: how it was solved, the shift in pixels (x east, y north) and
    CRS units, the rotation, the metric, the shares kept out as cloud (when any) and whether it
    is reliable.

    Examples
    --------
    >>> import xr_coregix
    >>> fit = xr_coregix.register(*xr_coregix.data.example_pair())
    >>> print(fit_text(fit))  # doctest: +ELLIPSIS
    split factor 0 (one solve), solve grid ... px at 30 x 30; shift (3.5..., -1.8...) px (x east, y north), (107..., -55...) CRS units; rotation 0.35... deg; metric ...; reliable
    """
    crs_units, pixels = shift_text(fit)
    shift = f"shift {pixels} {SHIFT_AXES}, {crs_units}" if pixels else f"shift {crs_units}"
    diag = fit.diagnostics
    if diag is None:
        return f"{shift}; rotation {rotation_text(fit)}"
    solved = chunks_text(diag) or "one solve"
    rows, cols = diag.solve_shape
    x_size, y_size = diag.solve_resolution
    reliable = "reliable" if diag.reliable else "UNRELIABLE: " + "; ".join(diag.problems)
    excluded = excluded_text(diag)
    left_out = left_out_text(diag)
    return (
        f"split factor {diag.split_factor} ({solved}), solve grid {rows} x {cols} px at "
        f"{x_size:g} x {y_size:g}; {shift}; rotation {rotation_text(fit)}; "
        + ("" if left_out is None else f"{left_out}; ")
        + f"metric {metric_text(diag)}, valid {diag.valid_fraction:.1%}; "
        + ("" if excluded is None else f"{excluded}; ")
        + reliable
    )
