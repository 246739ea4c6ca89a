"""xr_coregix against the tool it descends from, coregix 0.3.0, on the same generated pairs.

coregix is installed from PyPI into its own virtual environment (it is never a dependency of
xr_coregix). Both command lines run on the same pairs (``benchmarks/_pairs.py``: real pan-band
texture, an exact sub-pixel shift and, by default, a 0.3 degree rotation; 2048^2 and 8192^2
pixels), with split factor 0 and 2 and each tool's default (coregix: 0; xr_coregix: derived from
the size), writing onto the reference grid. ``--solo-sizes`` (e.g. 16384 32768) runs xr_coregix
alone, with its defaults (chunked), on shift-only pairs of those sizes. Each run is a fresh process; its wall time and peak
RSS are measured from outside.

Residual from the truth, measured the same way for both tools: the misregistration left
between the aligned output and the reference, estimated by registering one to the other (raw
values). For xr_coregix the fit itself is also compared with the truth.

Run: ``python benchmarks/compare_coregix.py [--sizes 2048 8192] [--degrees 0.3]
[--solo-sizes 16384 32768] [--venv DIR]`` (the first run
installs coregix, with itk-elastix, into ``--venv``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _pairs import make_pair

import xr_coregix

COREGIX = "coregix==0.3.0"


def coregix_command(env: Path) -> Path:
    """coregix's ``align-image-pair`` in its own environment, installed when missing."""
    exe = env / "bin" / "align-image-pair"
    if not exe.exists():
        venv.create(env, with_pip=True)
        subprocess.run([env / "bin" / "python", "-m", "pip", "install", "-q", COREGIX], check=True)
    return exe


def measured(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MB) of ``command``, run from a fresh measuring process."""
    probe = [sys.executable, __file__, "--measure", json.dumps([str(c) for c in command])]
    done = subprocess.run(probe, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


RESIDUAL_SIDE = 8192  # larger outputs are compared on their central window of this side


def residual_px(output: Path, fixed: Path) -> float:
    """Mean misregistration (reference pixels) left between an output and the reference (one
    raw-value solve, in memory: beyond ``RESIDUAL_SIDE`` on the central window, both being on
    the reference grid)."""
    out = xr_coregix.open_raster(output, "output")
    ref = xr_coregix.open_raster(fixed, "fixed")
    window = {
        dim: slice(
            max(0, (n - RESIDUAL_SIDE) // 2), max(0, (n - RESIDUAL_SIDE) // 2) + RESIDUAL_SIDE
        )
        for dim, n in (("y", ref.sizes["y"]), ("x", ref.sizes["x"]))
    }
    out, ref = out.isel(window), ref.isel(window)
    left = xr_coregix.register(out, ref, edge_proxy=False, split_factor=0)
    identity = xr_coregix.RigidTransform.identity()
    return xr_coregix.displacement_error(left, identity, ref.odc.geobox)[0]


def _one(tool: str, exe: Path, moving: Path, fixed: Path, work: Path, k: str, truth) -> dict:
    """One whole command line: its seconds, peak MB, output residual and (ours) fit error."""
    out = work / f"{tool}-{k}.tif"
    extra = ["--transform-out", str(work / "fit.json")] if tool != "coregix" else []
    split = [] if k == "default" else ["--split-factor", k]
    command = [exe, "--moving-image", moving, "--fixed-image", fixed, "--output-image", out,
               *split, "--no-output-on-moving-grid", *extra]  # fmt: skip
    fig = measured(command)
    fig["residual"] = residual_px(out, fixed)
    fig["fit"] = float("nan")
    if tool != "coregix":
        fit = xr_coregix.RigidTransform.from_json((work / "fit.json").read_text())
        grid = xr_coregix.open_raster(fixed, "fixed").odc.geobox
        fig["fit"] = xr_coregix.displacement_error(fit, truth, grid)[0]
    out.unlink()
    return fig


def solo(ours: Path, sizes: list[int], workdir: Path | None) -> None:
    """xr_coregix alone on large shift-only pairs, with its defaults."""
    print(
        f"{'size':>6}  {'tool':<11}{'seconds':>9}{'peak MB':>9}{'fit px':>8}  (defaults, shift only)"
    )
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            work = Path(tmp)
            moving, fixed, truth = make_pair(size, work)
            fig = _one("xr_coregix", ours, moving, fixed, work, "default", truth)
            print(f"{size:>6}  {'xr_coregix':<11}{fig['seconds']:9.1f}{fig['peak_mb']:9.0f}"
                  f"{fig['fit']:8.4f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2048, 8192])
    parser.add_argument("--splits", nargs="+", default=["0", "2", "default"],
                        help="split factors; 'default': each tool's own default")  # fmt: skip
    parser.add_argument("--degrees", type=float, default=0.3, help="rotation of the pairs")
    parser.add_argument("--solo-sizes", type=int, nargs="*", default=[],
                        help="sizes run by xr_coregix alone (defaults, shift only)")  # fmt: skip
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "coregix-0.3.0")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        start = time.perf_counter()
        subprocess.run(json.loads(args.measure), check=True, stdout=subprocess.DEVNULL)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak}))
        return
    ours = Path(sys.executable).parent / "align-image-pair"
    if args.solo_sizes:
        solo(ours, args.solo_sizes, args.workdir)
    if not args.sizes:
        return
    theirs = coregix_command(args.venv)
    print(f"{'size':>6}{'k':>8}  {'tool':<11}{'seconds':>9}{'peak MB':>9}{'residual px':>13}"
          f"{'fit px':>8}")  # fmt: skip
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            work = Path(tmp)
            moving, fixed, truth = make_pair(size, work, args.degrees)
            for k in args.splits:
                rows = {}
                for tool, exe in (("coregix", theirs), ("xr_coregix", ours)):
                    fig = _one(tool, exe, moving, fixed, work, k, truth)
                    rows[tool] = fig
                    print(f"{size:>6}{k:>8}  {tool:<11}{fig['seconds']:9.1f}{fig['peak_mb']:9.0f}"
                          f"{fig['residual']:13.4f}{fig['fit']:8.4f}", flush=True)  # fmt: skip
                speed = rows["coregix"]["seconds"] / rows["xr_coregix"]["seconds"]
                memory = rows["coregix"]["peak_mb"] / rows["xr_coregix"]["peak_mb"]
                print(f"{'':9}xr_coregix: {speed:.1f}x faster, {memory:.1f}x less peak memory")
    print("target: at least 3x faster and at most half the peak memory (10x faster wanted)")


if __name__ == "__main__":
    main()
