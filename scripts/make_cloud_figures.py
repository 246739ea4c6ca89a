"""The figures of ``docs/howto/clouds.md``: a cloudy pair, the cloud guard's mask, before/after.

Offline: the ground is the Landsat 8 pan crop shipped in ``tests/data`` (768 x 768 px at 15 m)
under the synthetic clouds of ``tests/clouds.py`` (20 % cover, 12 px parallax on the moving
side), misregistered by a known rigid transform (3.3 px east, 1.2 px south, 0.5 degree).
Writes into ``docs/howto/img/``:

- ``clouds-pair.png``: the fixed and the moving side (the same central 352 x 352 px);
- ``clouds-guard.png``: the fixed band's histogram with the guard's threshold, and the pixels
  the guard keeps out (beyond the threshold, grown by ``mask_dilation=3``) over the band;
- ``clouds-before-after.png``: the ground of the pair (the same pair without clouds) after
  warping the moving side onto the reference grid by each fit, minus the reference: with
  ``cloud_guard=False`` (the fit follows the clouds) and with the default.

PNGs are written at 80 dpi with a reduced palette (each under 150 KB).

Run: ``python scripts/make_cloud_figures.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clouds import Sky, cloudy_pair
from synthetic import inner, open_crop, rigid

import xr_coregix
from xr_coregix.core.exclusion import beyond, cloud_threshold, dilate

MARGIN = 32
TRUTH = (3.3, -1.2, 0.5)  # px east, px north, degrees
SKY = Sky(0.2, parallax=(12, 0))
VIEW = (slice(176, 528), slice(176, 528))  # the central 352 x 352 px of the 704 x 704 reference
DPI = 80
COLOURS = 64  # palette size of the written PNGs


def save(fig: plt.Figure, path: Path) -> None:
    """``fig`` as a palette PNG (far smaller than matplotlib's RGBA, and the same to the eye)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    image = Image.open(buffer).convert("RGB")
    image.quantize(COLOURS, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{image.size[0]} x {image.size[1]} px, {path.stat().st_size / 1024:.0f} KB")  # fmt: skip


def stretch(values: np.ndarray) -> tuple[float, float]:
    """Display limits: the 1st percentile and the cloud guard's threshold (clouds saturate)."""
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, 1)), float(cloud_threshold(finite, "bright"))


def figure_pair(moving, fixed, out: Path) -> None:
    limits = stretch(fixed.values)
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 5.0), layout="constrained")
    for ax, da, title in (
        (axes[0], fixed, "fixed (reference)"),
        (axes[1], moving, "moving: clouds 12 px east relative to the ground"),
    ):
        ax.imshow(da.values[VIEW], cmap="gray", vmin=limits[0], vmax=limits[1])
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    fig.suptitle("A cloudy pair: 20 % cover, 12 px parallax (central 352 x 352 px)", fontsize=12)
    save(fig, out / "clouds-pair.png")


def figure_guard(moving, fixed, out: Path) -> None:
    values = fixed.values
    sample = values[np.isfinite(values)]
    threshold = cloud_threshold(sample, "bright")
    clear = np.sort(sample[sample <= threshold])
    median, quartile = clear[(clear.size - 1) // 2], clear[(clear.size - 1) // 4]
    excluded = dilate(beyond(values, threshold, "bright"), 3)
    fit = xr_coregix.register(moving, fixed)
    share = fit.diagnostics.cloud_excluded[1]
    assert abs(share - excluded.mean()) < 1e-9, (share, excluded.mean())

    fig, axes = plt.subplots(
        1, 2, figsize=(9.6, 4.6), layout="constrained", gridspec_kw={"width_ratios": [1.1, 1]}
    )
    ax = axes[0]
    ax.hist(sample, bins=200, color="0.35", log=True)
    for x, colour, label in (
        (quartile, "tab:blue", f"lower quartile {quartile:.0f}"),
        (median, "tab:green", f"median {median:.0f}"),
        (threshold, "tab:red", f"threshold {threshold:.0f}"),
    ):
        ax.axvline(x, color=colour, lw=1.5, label=label)
    ax.set_xlabel("fixed band value (pixels below the threshold give the median and quartile)")
    ax.set_ylabel("pixels")
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title("threshold = median + 4 x (median - lower quartile)", fontsize=11)
    ax = axes[1]
    limits = stretch(values)
    ax.imshow(values[VIEW], cmap="gray", vmin=limits[0], vmax=limits[1])
    ax.imshow(
        np.where(excluded[VIEW], 1.0, np.nan), cmap=ListedColormap(["red"]), alpha=0.45,
        vmin=0, vmax=1,
    )  # fmt: skip
    ax.set_title(f"kept out (red): {100 * share:.0f} % of the fixed band", fontsize=11)
    ax.set_axis_off()
    save(fig, out / "clouds-guard.png")


def figure_before_after(moving, fixed, ground, truth, grid, out: Path) -> None:
    clear_moving, clear_fixed, _, _ = cloudy_pair(ground, Sky(0.0), truth, grid, MARGIN)
    panels = []
    for title, options in (
        ("cloud_guard=False", {"cloud_guard": False}),
        ("default (cloud guard on)", {}),
    ):
        fit = xr_coregix.register(moving, fixed, **options)
        error, _ = xr_coregix.displacement_error(fit, truth, grid)
        aligned = xr_coregix.apply(clear_moving, fit, grid="reference")
        difference = aligned.values - clear_fixed.values
        panels.append((f"{title}: {error:.2f} px from the truth", difference))
    limit = float(np.nanpercentile(np.abs(clear_fixed.values - clear_fixed.values.mean()), 90))
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 5.2), layout="constrained")
    for ax, (title, difference) in zip(axes, panels, strict=True):
        image = ax.imshow(difference[VIEW], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=11)
        ax.set_axis_off()
    fig.colorbar(image, ax=axes, shrink=0.7, label="aligned moving - fixed (ground only)")
    fig.suptitle(
        "The ground after alignment, minus the reference (central 352 x 352 px)", fontsize=12
    )
    save(fig, out / "clouds-before-after.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "howto" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ground = open_crop("B8")
    grid = inner(ground, MARGIN).odc.geobox
    truth = rigid(*TRUTH, grid)
    moving, fixed, _, _ = cloudy_pair(ground, SKY, truth, grid, MARGIN)
    figure_pair(moving, fixed, args.out)
    figure_guard(moving, fixed, args.out)
    figure_before_after(moving, fixed, ground, truth, grid, args.out)


if __name__ == "__main__":
    main()
