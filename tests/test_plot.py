"""Diagnostic plots: the expected axes and artists, saved as PNG."""

import pytest

import xr_coregix
from xr_coregix import CoregError
from xr_coregix.data import example_pair

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.image import AxesImage
from matplotlib.quiver import Quiver

import xr_coregix.plot


@pytest.fixture(scope="module")
def pair():
    return example_pair()


@pytest.mark.parametrize("mode", ["checkerboard", "blend"])
def test_compare_draws_before_and_after(pair, mode, tmp_path):
    moving, fixed = pair
    fig = xr_coregix.plot.compare(moving, fixed, xr_coregix.register(moving, fixed), mode=mode)
    image_axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(image_axes) == 4
    titles = [ax.get_title() for ax in image_axes]
    assert titles == [f"before: {mode}", "before: moving - reference",
                      f"after: {mode}", "after: moving - reference"]  # fmt: skip
    for ax in image_axes:
        (image,) = ax.get_images()
        assert isinstance(image, AxesImage) and image.get_array().shape[:2] == (320, 320)
    assert "shift (3.5" in fig.texts[0].get_text() or "shift (3.6" in fig.texts[0].get_text()
    fig.savefig(tmp_path / "compare.png")
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_anchor_plot_tells_inliers_from_outliers(pair, tmp_path):
    moving, fixed = pair
    fit = xr_coregix.register(moving, fixed, split_factor=3)
    ax = xr_coregix.plot.anchors(fit)
    arrows = [c for c in ax.collections if isinstance(c, Quiver)]
    kept, trimmed = fit.diagnostics.anchors_used, fit.diagnostics.anchors_rejected
    assert sum(len(q.U) for q in arrows) == kept + trimmed
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "inlier" in labels and ("outlier" in labels) == (trimmed > 0)
    assert len(ax.patches) == len(fit.diagnostics.chunks)
    ax.figure.savefig(tmp_path / "anchors.png")
    assert (tmp_path / "anchors.png").stat().st_size > 1000


def test_anchor_plot_needs_a_chunked_fit(pair):
    moving, fixed = pair
    with pytest.raises(CoregError, match="split_factor > 0"):
        xr_coregix.plot.anchors(xr_coregix.register(moving, fixed))
