"""Text repr, HTML repr and plot titles tell a fit in one wording: the same numbers, signs and
axes (reference pixels, x east and y north)."""

import math
import re

import pandas as pd
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import diagnostics

from xr_coregix import ChunkResult, RigidTransform, TransformSeries

GRID = GeoBox((200, 300), Affine(30, 0, 450000, 0, -30, 3400000), "EPSG:32616")
TIMES = pd.DatetimeIndex(["2024-05-31T16:42:11", "2024-06-01T16:32:07", "2024-06-16T16:32:09"])


def make_fit(translation=(45.0, -15.0), center=(454500.0, 3397000.0), **changes) -> RigidTransform:
    return RigidTransform(0.01, translation, center, "EPSG:32616", diagnostics(**changes))


def html_rows(markup: str) -> dict[str, str]:
    """The label -> value rows of a fit's HTML table."""
    return dict(re.findall(r"<th[^>]*>(.*?)</th><td[^>]*>(.*?)</td>", markup))


def html_cells(markup: str) -> list[list[str]]:
    """The cells of each body row of a series' HTML table."""
    rows = re.findall(r"<tr>((?:<td[^>]*>.*?</td>)+)</tr>", markup)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]


# ----------------------------------------------------------------- text repr
def test_repr_reads_shift_in_pixels_x_east_y_north():
    assert repr(make_fit()) == (
        "RigidTransform(shift=(45.000, -15.000) CRS units, (1.500, -0.500) px (x east, y north), "
        "rotation=0.5730 deg, center=(454500.00, 3397000.00), crs=EPSG:32616, "
        "metric -0.1000 -> -0.5000, valid 90.0%)"
    )
    bare = RigidTransform(0.0, (60.0, 90.0))
    assert repr(bare) == (
        "RigidTransform(shift=(60.000, 90.000) CRS units (x east, y north), "
        "rotation=0.0000 deg, center=(0.00, 0.00))"
    )


def test_repr_of_a_chunked_and_an_unreliable_fit():
    chunks = (ChunkResult(0, (0.0, 0.0, 1.0, 1.0), "ok", anchors=((0, 0, 1, 1),) * 3,
                          inliers=(True, True, False)),
              ChunkResult(1, (1.0, 0.0, 2.0, 1.0), "skipped", "all cloud"))  # fmt: skip
    fit = make_fit(chunks=chunks, anchor_rmse=0.0421, reliable=False, problems=("a", "b"))
    text = repr(fit)
    assert text.endswith("UNRELIABLE: a; b, 1/2 chunks, 2 anchors (rmse 0.042 px, 1 rejected))")
    rows = html_rows(fit._repr_html_())
    assert rows["reliable"] == "UNRELIABLE: a; b"
    assert rows["chunks"] == "1/2 chunks, 2 anchors (rmse 0.042 px, 1 rejected)"


def test_repr_names_what_masks_and_the_guard_kept_out():
    """The shares kept out as cloud are shown from half a percent on, with a word on the guard
    from a quarter on (the clear Sentinel-2 crop's red band: 48 % taken, the fit worse for it)."""
    clear = make_fit(cloud_excluded=(0.0, 0.004))
    assert "kept out" not in repr(clear) and "kept out" not in html_rows(clear._repr_html_())
    cloudy = make_fit(cloud_excluded=(0.12, 0.2))
    assert repr(cloudy).endswith("valid 90.0%, kept out as cloud: moving 12.0%, fixed 20.0%)")
    taken = make_fit(cloud_excluded=(0.05, 0.48))
    words = (
        "moving 5.0%, fixed 48.0% (if that is clear ground: cloud_guard=False, or a narrower mask)"
    )
    assert repr(taken).endswith(f"kept out as cloud: {words})")
    assert html_rows(taken._repr_html_())["kept out"] == words


# ----------------------------------------------------------------- HTML repr
def test_html_repr_of_a_fit():
    markup = make_fit()._repr_html_()
    assert markup.startswith("<table class='xr-coregix'><caption>RigidTransform</caption>")
    assert html_rows(markup) == {
        "shift": "(45.000, -15.000) CRS units (x east, y north)",
        "shift in reference pixels": "(1.500, -0.500) px (x east, y north)",
        "rotation": "0.5730 deg (counter-clockwise)",
        "center": "(454500.00, 3397000.00) CRS units",
        "crs": "EPSG:32616",
        "metric (lower is better)": "-0.1000 -&gt; -0.5000",
        "valid": "90.0%",
        "reliable": "yes",
    }
    bare = html_rows(RigidTransform(0.0, (60.0, 90.0))._repr_html_())
    assert list(bare) == ["shift", "rotation", "center", "crs"] and bare["crs"] == "none"


def test_html_repr_escapes_text():
    fit = make_fit(reliable=False, problems=("shift <beyond> max & more",))
    assert "UNRELIABLE: shift &lt;beyond&gt; max &amp; more" in fit._repr_html_()


def test_html_repr_of_a_series():
    fits = (make_fit(), None, make_fit((-30.0, 60.0), reliable=False, problems=("far",)))
    series = TransformSeries("time", TIMES, fits, ("", "all cloud", ""))
    markup = series._repr_html_()
    assert "<caption>TransformSeries(3 along &#x27;time&#x27;, 2 registered)</caption>" in markup
    assert html_cells(markup) == [
        ["2024-05-31 16:42:11", "(45.000, -15.000) CRS units", "(1.500, -0.500) px",
         "0.5730 deg", "-0.1000 -&gt; -0.5000", "yes", ""],
        ["2024-06-01 16:32:07", "", "", "", "", "failed", "all cloud"],
        ["2024-06-16 16:32:09", "(-30.000, 60.000) CRS units", "(-1.000, 2.000) px",
         "0.5730 deg", "-0.1000 -&gt; -0.5000", "UNRELIABLE", "far"],
    ]  # fmt: skip
    assert "<th style='text-align:left'>shift in reference pixels (x east, y north)</th>" in markup


def test_html_repr_of_a_long_series_is_cut_in_the_middle():
    times = pd.date_range("2020-01-01", periods=100, freq="D")
    series = TransformSeries("time", times, (make_fit(),) * 100, ("",) * 100)
    cells = html_cells(series._repr_html_())
    assert len(cells) == 41
    assert cells[20][0] == "... 60 more ..."
    assert (cells[0][0], cells[19][0], cells[21][0], cells[40][0]) == (
        "2020-01-01 00:00:00", "2020-01-20 00:00:00", "2020-03-21 00:00:00", "2020-04-09 00:00:00"
    )  # fmt: skip


# ----------------------------------------------------------------- one wording everywhere
@pytest.mark.parametrize(
    ("translation", "pixels"),
    [((45.0, -15.0), "(1.500, -0.500) px"), ((60.0, 90.0), "(2.000, 3.000) px")],
    ids=["south", "north"],
)
def test_repr_html_and_plot_title_agree(translation, pixels):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import xr_coregix.plot
    from xr_coregix.data import example_pair

    moving, fixed = example_pair()
    grid = fixed.odc.geobox
    center = grid.affine @ (grid.shape[1] / 2, grid.shape[0] / 2)
    fit = RigidTransform(math.radians(0.25), translation, center, grid.crs, diagnostics())
    shift = f"{pixels} (x east, y north)"
    fig = xr_coregix.plot.compare(moving, fixed, fit)
    title = fig.get_suptitle()
    plt.close(fig)
    assert title == f"fit: shift {shift}, rotation 0.2500 deg"
    assert f", {shift}, rotation=0.2500 deg," in repr(fit)
    rows = html_rows(fit._repr_html_())
    assert rows["shift in reference pixels"] == shift
    assert rows["rotation"] == "0.2500 deg (counter-clockwise)"
    series = TransformSeries("time", TIMES[:1], (fit,), ("",))
    assert html_cells(series._repr_html_())[0][2:4] == [pixels, "0.2500 deg"]
    table = series.to_dataframe()
    assert (table["shift_x_px"].iloc[0], table["shift_y_px"].iloc[0]) == (
        translation[0] / 30.0, translation[1] / 30.0
    )  # fmt: skip
    # a grid's rows grow southwards: shift_in_pixels(grid) counts (columns, rows), not y north
    assert fit.shift_in_pixels(grid)[1] == -translation[1] / 30.0


def test_plot_title_of_a_fit_without_diagnostics_counts_reference_pixels():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import xr_coregix.plot
    from xr_coregix.data import example_pair

    moving, fixed = example_pair()
    fit = RigidTransform(0.0, (-45.0, 15.0), crs=fixed.odc.geobox.crs)
    fig = xr_coregix.plot.compare(moving, fixed, fit, mode="blend")
    assert (
        fig.get_suptitle() == "fit: shift (-1.500, 0.500) px (x east, y north), rotation 0.0000 deg"
    )
    plt.close(fig)
