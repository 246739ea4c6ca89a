"""Command lines: ``align-image-pair`` (the flags of coregix 0.3.0, and more) and
``trim-edge-invalid``."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from .errors import CoregError
from .options import AGAIN, CHUNK, GRIDS, MASK_DILATION, MASK_KINDS, RESAMPLINGS

if TYPE_CHECKING:
    from .pipeline import AlignmentResult

# The parsers need only the vocabulary of the options (``options.py``): the library is imported
# when a command runs, so that ``--help`` and bad flags answer at once.


def _resolutions(text: str) -> list[float | None]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of sizes >= 0 (0: native)")
    return [v or None for v in values]


def _dilation(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number of pixels, 0 or more")
    return value


CLOUD_GUARDS = {"auto": True, "bright": "bright", "cold": "cold", "off": False}


class _OneLineParser(argparse.ArgumentParser):
    """Bad flags end as one line on stderr (``prog: error: ...``) and exit status 2, as bad
    values do."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def with_flags(message: str, flags: Mapping[str, str]) -> str:
    """``message`` (from the library) with the keyword names in it replaced by the flags of
    ``flags`` (keyword -> flag): ``split_factor=40`` becomes ``--split-factor 40``,
    ``on_failure='warn'`` ``--on-failure warn``, ``output_image_path 'a.tif'``
    ``--output-image 'a.tif'``. A name without an underscore (``plot``) is replaced only in
    those two forms; text inside a path (after a quote, a slash or a dot) never is.

    Examples
    --------
    >>> flags = {"on_failure": "--on-failure", "plot": "--plot"}
    >>> with_flags("pass on_failure='warn' to see the plot", flags)
    'pass --on-failure warn to see the plot'
    >>> with_flags("plot 'on_failure.png' is a folder", flags)
    "--plot 'on_failure.png' is a folder"
    """
    if not flags:
        return message
    names = "|".join(re.escape(n) for n in sorted(flags, key=len, reverse=True))
    pattern = re.compile(
        rf"(?<![\w'\"/.-])(?P<name>{names})(?![\w-])"
        rf"(?:=(?P<value>'[^']*'|[^\s,;:)]*[^\s,;:).]))?"
    )

    def flag(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        if value is not None:
            if value.startswith("'") and " " not in value:
                value = value[1:-1]
            return f"{flags[name]} {value}"
        if "_" in name or match.string.startswith(" '", match.end()):
            return flags[name]
        return match[0]

    return pattern.sub(flag, message)


def _add_trim_flags(parser: argparse.ArgumentParser, prefix: str) -> None:
    parser.add_argument(
        f"--{prefix}depth",
        type=int,
        default=8,
        help="pixels to trim around the invalid exterior (default 8)",
    )
    parser.add_argument(
        f"--{prefix}detection-band-index",
        type=int,
        default=0,
        help="0-based band whose validity is tested (default 0)",
    )
    parser.add_argument(
        f"--{prefix}invalid-below", type=float, help="values <= this also count as invalid"
    )
    parser.add_argument(
        f"--{prefix}invalid-above", type=float, help="values >= this also count as invalid"
    )


def align_parser() -> argparse.ArgumentParser:
    """The ``align-image-pair`` argument parser."""
    p = _OneLineParser(
        prog="align-image-pair",
        description="Coregister a moving (source) raster to a fixed (reference) raster and "
        "write the aligned GeoTIFF. Prints the fitted transform as JSON.",
    )
    bool_flag = argparse.BooleanOptionalAction
    p.add_argument("--moving-image", required=True, help="raster to align (source)")
    p.add_argument("--fixed-image", required=True, help="reference raster")
    p.add_argument("--output-image", required=True, help="aligned GeoTIFF to write")
    p.add_argument("--band-index", type=int, default=0, help="0-based registration band")
    p.add_argument("--moving-band-index", type=int, help="registration band of the moving image")
    p.add_argument("--fixed-band-index", type=int, help="registration band of the fixed image")
    p.add_argument(
        "--use-edge-proxies", action=bool_flag, default=True, help="register edge proxies"
    )
    p.add_argument(
        "--split-factor",
        type=int,
        default=None,
        help="solve 2**k chunks (0: one solve); default: derived from the size (2048^2 chunks)",
    )
    p.add_argument("--moving-nodata", type=float, help="override the moving nodata")
    p.add_argument("--fixed-nodata", type=float, help="override the fixed nodata")
    p.add_argument("--output-nodata", type=float, help="output nodata (default: source's)")
    p.add_argument("--min-valid-fraction", type=float, default=0.01)
    p.add_argument("--solve-resolution", type=float, help="solve pixel size, CRS units")
    p.add_argument("--solve-resolutions", type=_resolutions, help="coregix's coarse-to-fine list")
    p.add_argument("--temp-dir", help="accepted for coregix compatibility; unused")
    p.add_argument("--keep-temp-dir", action="store_true", help="accepted; unused")
    p.add_argument(
        "--log-to-console",
        action="store_true",
        help="log each step (inputs, fit, output) and its time on stderr",
    )
    p.add_argument("--clip-fixed-to-moving", action=bool_flag, default=True, help="accepted")
    p.add_argument(
        "--output-on-moving-grid",
        action=bool_flag,
        default=True,
        help="write on the moving grid (default) or, with --no-..., on the fixed grid",
    )
    p.add_argument(
        "--output-grid", choices=GRIDS, help="source, reference or native (georeference only)"
    )
    p.add_argument("--trim-edge-invalid", action=bool_flag, default=False)
    _add_trim_flags(p, "edge-trim-")
    p.add_argument("--enforce-mutual-valid-mask", action=bool_flag, default=True, help="accepted")
    p.add_argument("--transform-out", help="also write the fit as JSON to this file")
    p.add_argument("--cog", action="store_true", help="write a Cloud Optimized GeoTIFF")
    p.add_argument("--plot", help="also write a before/after comparison PNG (needs matplotlib)")
    p.add_argument(
        "--resampling",
        default="bilinear",
        metavar="NAME",
        help=f"bilinear (default), nearest for categories, or {', '.join(RESAMPLINGS[2:])}",
    )
    p.add_argument(
        "--max-shift", type=float, default=50.0, help="largest believable shift, pixels (50)"
    )
    p.add_argument(
        "--progress",
        action=bool_flag,
        default=None,
        help="a progress bar on stderr for registering and for warping + writing "
        "(default: when stderr is a terminal)",
    )
    p.add_argument(
        "--on-failure",
        choices=("raise", "warn"),
        default="raise",
        help="a fit that fails a reliability check: exit 2 and write nothing (raise, default), "
        "or write it and print a warning (warn)",
    )
    masks = p.add_argument_group("cloud and quality masks")
    for side in ("moving", "fixed"):
        masks.add_argument(
            f"--{side}-mask",
            metavar="PATH|band:N",
            help=f"pixels of the {side} image to keep out of the fit: a mask raster, or band N "
            "(0-based) of the image itself",
        )
    for side in ("moving", "fixed"):
        masks.add_argument(
            f"--{side}-mask-kind",
            choices=MASK_KINDS,
            default=MASK_KINDS[0],
            help=f"how --{side}-mask values read: nonzero excludes (default), or a QA layout",
        )
    masks.add_argument(
        "--mask-dilation",
        type=_dilation,
        default=MASK_DILATION,
        metavar="N",
        help=f"grow masked and guard clouds by N reference pixels (default {MASK_DILATION})",
    )
    masks.add_argument(
        "--cloud-guard",
        choices=tuple(CLOUD_GUARDS),
        default="auto",
        help="also exclude each band's outliers on the cloud side: auto (default), bright "
        "(reflective bands), cold (thermal bands) or off",
    )
    return p


def _run(func: Callable[[], int], prog: str, flags: Mapping[str, str] | None = None) -> int:
    """Run a command, turning bad input into one line on stderr and exit status 2, and each
    warning into one line on stderr; the keyword names in messages become the flags of
    ``flags`` (:func:`with_flags`). SIGINT and SIGTERM end the process (removing any partial
    output) with the signal's exit status."""
    import rasterio.errors

    from .io import signals_end_the_process
    from .log import own_line

    flags = flags or {}

    def one_line(message: object, category: type, *args: object, **kwargs: object) -> None:
        text = with_flags(" ".join(str(message).split()), flags)
        with own_line():
            print(f"{prog}: warning: {text}", file=sys.stderr)

    with warnings.catch_warnings(), signals_end_the_process():
        # rasterio's in-memory warp datasets, made in several threads at once, now and then
        # warn that one has no geotransform; the warped values are right (test_blockwarp.py)
        warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
        warnings.showwarning = one_line
        try:
            return func()
        except (CoregError, rasterio.errors.RasterioError, OSError) as err:
            message = with_flags(" ".join(str(err).split()), flags)
            print(f"{prog}: error: {message}", file=sys.stderr)
            return 2


GDAL_CACHE_MB = "256"  # GDAL's block cache defaults to 5 % of RAM; the user's setting wins


def align_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``align-image-pair``."""
    args = align_parser().parse_args(argv)
    os.environ.setdefault("GDAL_CACHEMAX", GDAL_CACHE_MB)

    def work() -> int:
        from .log import console_logging

        with console_logging(args.log_to_console, prog="align-image-pair"):
            result = _align(args)
        record = {"output_image_path": str(result.output_image_path), **result.fit.to_dict()}
        print(json.dumps(record, indent=2))
        return 0

    return _run(work, "align-image-pair", _align_flags(args))


def _align(args: argparse.Namespace) -> AlignmentResult:
    """:func:`align_image_pair` with the parsed flags."""
    from .pipeline import align_image_pair

    return align_image_pair(
        args.moving_image,
        args.fixed_image,
        args.output_image,
        band_index=args.band_index,
        moving_band_index=args.moving_band_index,
        fixed_band_index=args.fixed_band_index,
        moving_nodata=args.moving_nodata,
        fixed_nodata=args.fixed_nodata,
        output_nodata=args.output_nodata,
        min_valid_fraction=args.min_valid_fraction,
        output_on_moving_grid=args.output_on_moving_grid,
        output_grid=args.output_grid,
        trim_edge_invalid=args.trim_edge_invalid,
        edge_trim_depth=args.edge_trim_depth,
        edge_trim_detection_band_index=args.edge_trim_detection_band_index,
        edge_trim_invalid_below=args.edge_trim_invalid_below,
        edge_trim_invalid_above=args.edge_trim_invalid_above,
        use_edge_proxies=args.use_edge_proxies,
        split_factor=args.split_factor,
        solve_resolution=args.solve_resolution,
        solve_resolutions=args.solve_resolutions,
        transform_out=args.transform_out,
        cog=args.cog,
        resampling=args.resampling,
        max_shift=args.max_shift,
        plot=args.plot,
        progress=sys.stderr.isatty() if args.progress is None else args.progress,
        moving_mask=args.moving_mask,
        fixed_mask=args.fixed_mask,
        moving_mask_kind=args.moving_mask_kind,
        fixed_mask_kind=args.fixed_mask_kind,
        mask_dilation=args.mask_dilation,
        cloud_guard=CLOUD_GUARDS[args.cloud_guard],
        on_failure=args.on_failure,
        log_to_console=args.log_to_console,
    )


def _align_flags(args: argparse.Namespace) -> dict[str, str]:
    """The flag of each keyword of :func:`align_image_pair` (and of ``register``) that library
    messages name."""
    flags = {
        "moving_image_path": "--moving-image",
        "fixed_image_path": "--fixed-image",
        "output_image_path": "--output-image",
        "transform_out": "--transform-out",
        "plot": "--plot",
        "resampling": "--resampling",
        "moving_nodata": "--moving-nodata",
        "fixed_nodata": "--fixed-nodata",
        "output_nodata": "--output-nodata",
        "min_valid_fraction": "--min-valid-fraction",
        "solve_resolution": "--solve-resolution",
        "solve_resolutions": "--solve-resolutions",
        "split_factor": "--split-factor",
        "max_shift": "--max-shift",
        "on_failure": "--on-failure",
        "output_grid": "--output-grid",
        "edge_trim_depth": "--edge-trim-depth",
        "edge_trim_detection_band_index": "--edge-trim-detection-band-index",
        "moving_mask": "--moving-mask",
        "fixed_mask": "--fixed-mask",
        "moving_mask_kind": "--moving-mask-kind",
        "fixed_mask_kind": "--fixed-mask-kind",
        "mask_dilation": "--mask-dilation",
    }
    for side in ("moving", "fixed"):  # the band flag the user typed
        own = getattr(args, f"{side}_band_index") is not None
        flags[f"{side}_band"] = f"--{side}-band-index" if own else "--band-index"
    return flags


def trim_parser() -> argparse.ArgumentParser:
    """The ``trim-edge-invalid`` argument parser."""
    p = _OneLineParser(
        prog="trim-edge-invalid",
        description="Set to nodata the pixels within a depth of the invalid area connected to "
        "a raster's exterior (border artefacts of warped rasters).",
    )
    p.add_argument("--input-image", required=True)
    p.add_argument("--output-image", help="required unless --in-place")
    p.add_argument("--in-place", action="store_true", help="replace the input (atomically)")
    _add_trim_flags(p, "edge-")
    p.add_argument("--nodata-value", type=float, help="default: the raster's nodata, else 0")
    p.add_argument("--cog", action="store_true")
    return p


def trim_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``trim-edge-invalid``."""
    from .io import check_target, open_raster, write_geotiff
    from .pipeline import same_file
    from .xr.trim import trim_edge_invalid

    parser = trim_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("GDAL_CACHEMAX", GDAL_CACHE_MB)
    if not args.in_place and not args.output_image:
        parser.error("--output-image is required unless --in-place")
    if args.in_place and args.output_image and not same_file(args.output_image, args.input_image):
        parser.error("--in-place replaces --input-image: pass --output-image or --in-place")

    def work() -> int:
        out = args.input_image if args.in_place else args.output_image
        if not args.in_place and same_file(out, args.input_image):
            raise CoregError(
                f"--output-image {out!r} is the same file as --input-image "
                f"{args.input_image!r}: pass --in-place to replace the input, or choose "
                "another path"
            )
        check_target(out, "--input-image" if args.in_place else "--output-image")
        da = open_raster(args.input_image, "--input-image", chunks=CHUNK)
        again = open_raster(args.input_image, "--input-image", chunks=CHUNK, name_prefix=AGAIN)
        trimmed = trim_edge_invalid(
            da,
            first_pass=again,
            depth=args.edge_depth,
            detection_band={"position": args.edge_detection_band_index},
            invalid_below=args.edge_invalid_below,
            invalid_above=args.edge_invalid_above,
            nodata=args.nodata_value,
        )
        write_geotiff(trimmed, out, cog=args.cog)
        print(json.dumps({"output_image_path": out, "nodata": float(trimmed.rio.nodata)}))
        return 0

    flags = {
        "depth": "--edge-depth",
        "detection_band": "--edge-detection-band-index",
        "nodata": "--nodata-value",
    }
    return _run(work, "trim-edge-invalid", flags)
