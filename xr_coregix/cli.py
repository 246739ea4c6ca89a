"""Command lines: ``align-image-pair`` (the flags of coregix 0.3.0, and more) and
``trim-edge-invalid``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

import rasterio.errors

from .errors import CoregError
from .io import AGAIN, CHUNK, open_raster, write_geotiff
from .masks_io import MASK_KINDS, open_mask
from .pipeline import align_image_pair
from .xr.register import MASK_DILATION
from .xr.trim import trim_edge_invalid
from .xr.warp import GRIDS


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
    p.add_argument("--log-to-console", action="store_true", help="accepted; unused")
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
    p.add_argument("--resampling", default="bilinear", help="bilinear (default), nearest, ...")
    p.add_argument(
        "--max-shift", type=float, default=50.0, help="largest believable shift, pixels (50)"
    )
    p.add_argument("--progress", action=bool_flag, default=None, help="default: on a terminal")
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


def _run(func: Callable[[], int], prog: str) -> int:
    """Run a command, turning bad input into one line on stderr and exit status 2."""
    # rasterio's in-memory warp datasets, made in several threads at once, now and then warn
    # that one has no geotransform; the warped values are right (tests/test_blockwarp.py)
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    try:
        return func()
    except (CoregError, rasterio.errors.RasterioError, OSError) as err:
        message = " ".join(str(err).split())
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2


GDAL_CACHE_MB = "256"  # GDAL's block cache defaults to 5 % of RAM; the user's setting wins


def align_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``align-image-pair``."""
    args = align_parser().parse_args(argv)
    os.environ.setdefault("GDAL_CACHEMAX", GDAL_CACHE_MB)

    def work() -> int:
        # check the masks first, so that their errors name the flags
        for side in ("moving", "fixed"):
            mask, kind = getattr(args, f"{side}_mask"), getattr(args, f"{side}_mask_kind")
            if mask is not None or kind != MASK_KINDS[0]:
                image = getattr(args, f"{side}_image")
                open_mask(
                    mask,
                    kind,
                    open_raster(image, f"--{side}-image", chunks=CHUNK),
                    name=f"--{side}-mask",
                    kind_name=f"--{side}-mask-kind",
                    image_name=f"--{side}-image",
                )
        result = align_image_pair(
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
        )
        record = {"output_image_path": str(result.output_image_path), **result.fit.to_dict()}
        print(json.dumps(record, indent=2))
        return 0

    return _run(work, "align-image-pair")


def trim_parser() -> argparse.ArgumentParser:
    """The ``trim-edge-invalid`` argument parser."""
    p = argparse.ArgumentParser(
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
    parser = trim_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("GDAL_CACHEMAX", GDAL_CACHE_MB)
    if not args.in_place and not args.output_image:
        parser.error("--output-image is required unless --in-place")

    def work() -> int:
        da = open_raster(args.input_image, "--input-image", chunks=CHUNK)
        again = open_raster(args.input_image, "--input-image", chunks=CHUNK, name_prefix=AGAIN)
        trimmed = trim_edge_invalid(
            da,
            first_pass=again,
            depth=args.edge_depth,
            detection_band=args.edge_detection_band_index,
            invalid_below=args.edge_invalid_below,
            invalid_above=args.edge_invalid_above,
            nodata=args.nodata_value,
        )
        out = args.input_image if args.in_place else args.output_image
        write_geotiff(trimmed, out, cog=args.cog)
        print(json.dumps({"output_image_path": out, "nodata": float(trimmed.rio.nodata)}))
        return 0

    return _run(work, "trim-edge-invalid")
