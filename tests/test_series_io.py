"""TransformSeries and Diagnostics as data: JSON and Dataset round trips, selection, tables."""

import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from synthetic import diagnostics

from xr_coregix import (
    ChunkResult,
    CoregError,
    Diagnostics,
    RigidTransform,
    StageResult,
    TransformSeries,
)

GRID = GeoBox((200, 300), Affine(30, 0, 450000, 0, -30, 3400000), "EPSG:32616")
CENTER = (454515.25, 3397012.75)
# as odc.stac.load makes them: acquisition times, not midnights
TIMES = pd.DatetimeIndex(
    [
        "2024-05-31T16:42:11.254",
        "2024-06-01T16:32:07.118",
        "2024-06-16T16:32:09.5",
        "2024-07-01T16:42:13",
    ]
).as_unit("ms")
CHUNKS = (
    ChunkResult(0, (450000.0, 3394000.0, 454500.0, 3400000.0), "ok", "", 0.0061,
                (44.5, -14.75), ((451000.0, 3395000.0, 451044.5, 3394985.25),
                                 (452000.0, 3396000.0, 452046.0, 3395984.0)),
                (True, False), 0.875),
    ChunkResult(1, (454500.0, 3394000.0, 459000.0, 3400000.0), "skipped", "all cloud"),
)  # fmt: skip


def full_diagnostics(**changes) -> Diagnostics:
    """Every field set, to digits a round trip must keep."""
    fields = {
        "metric_before": -0.1234567,
        "metric_after": -0.4567891,
        "valid_fraction": 0.8765,
        "shift_precision": (0.003, 0.004),
        "stages": (StageResult("translation", -0.4, 12, "Step too small", 0.0, (44.0, -15.5)),),
        "split_factor": 1,
        "chunks": CHUNKS,
        "anchor_rmse": 0.0731,
        "cloud_excluded": (0.125, 0.0),
        "search_shift": (30.0, -30.0),
        "search_significance": 9.5,
        "search_ambiguity": 0.31,
        "search_reach": 2250.0,
    }
    return diagnostics(**{**fields, **changes})


def make_series() -> TransformSeries:
    """Four dates: a chunked fit, an unreliable fit, a failed date, a fit without diagnostics."""
    fits = (
        RigidTransform(math.radians(0.37), (45.123456789, -15.987654321), CENTER, "EPSG:32616",
                       full_diagnostics(), reference_geobox=GRID, reference_nodata=0.0),
        RigidTransform(-0.001234, (1530.0, 60.5), CENTER, "EPSG:32616",
                       full_diagnostics(reliable=False, problems=("shift of 51.0 px > max_shift 50",),
                                   chunks=(), anchor_rmse=None, split_factor=0),
                       reference_geobox=GRID[10:, 20:], reference_nodata=math.nan),
        None,
        RigidTransform(0.0, (-7.5, 3.25), (0.0, 0.0), "EPSG:32616"),
    )  # fmt: skip
    errors = ("", "", "only 0.00% of the overlap is valid in both rasters", "")
    return TransformSeries("time", TIMES, fits, errors)


def assert_same_series(back: TransformSeries, series: TransformSeries) -> None:
    """Every field equal: dim, index (values and dtype), errors, and each fit's rotation,
    translation, centre, CRS, reference grid and nodata, and diagnostics (None where a date
    failed)."""
    assert back == series
    assert back.dim == series.dim
    assert back.index.dtype == series.index.dtype
    assert back.index.tolist() == series.index.tolist()
    assert back.errors == series.errors
    for ours, theirs in zip(back.fits, series.fits, strict=True):
        if theirs is None:
            assert ours is None
            continue
        assert ours.rotation == theirs.rotation
        assert ours.translation == theirs.translation
        assert ours.center == theirs.center
        assert ours.crs == theirs.crs
        assert ours.reference_geobox == theirs.reference_geobox
        assert ours.reference_nodata == theirs.reference_nodata or (
            math.isnan(ours.reference_nodata) and math.isnan(theirs.reference_nodata)
        )
        assert ours.diagnostics == theirs.diagnostics


# ----------------------------------------------------------------- round trips
def test_json_round_trip_keeps_every_field():
    series = make_series()
    back = TransformSeries.from_json(series.to_json())
    assert_same_series(back, series)
    assert back[2] is None and back.failed == [TIMES[2]]
    assert back[1].diagnostics.problems == ("shift of 51.0 px > max_shift 50",)


def test_json_holds_times_as_iso_text_and_failed_dates_as_null():
    data = json.loads(make_series().to_json())
    assert data["type"] == "series" and data["dim"] == "time"
    assert data["index"] == {
        "kind": "datetime",
        "unit": "ms",
        "tz": None,
        "values": [
            "2024-05-31T16:42:11.254",
            "2024-06-01T16:32:07.118",
            "2024-06-16T16:32:09.500",
            "2024-07-01T16:42:13.000",
        ],
    }
    assert data["fits"][2] is None
    assert data["fits"][0]["crs"] == "EPSG:32616"
    assert data["errors"][2] == "only 0.00% of the overlap is valid in both rasters"


@pytest.mark.parametrize(
    "index",
    [
        pd.RangeIndex(4),
        pd.Index([3, 5, 8, 13]),
        pd.Index(["a", "b", "c", "d"]),
        pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], tz="UTC"),
        TIMES.as_unit("ns"),
    ],
    ids=["range", "int", "str", "tz", "ns"],
)
def test_json_and_dataset_round_trip_other_indexes(index):
    series = TransformSeries("time", index, make_series().fits, make_series().errors)
    assert_same_series(TransformSeries.from_json(series.to_json()), series)
    assert_same_series(TransformSeries.from_dataset(series.to_dataset()), series)
    assert type(TransformSeries.from_json(series.to_json()).index) is type(index)


def test_dataset_round_trip_keeps_every_field():
    series = make_series()
    assert_same_series(TransformSeries.from_dataset(series.to_dataset()), series)


def test_dataset_round_trip_through_netcdf(tmp_path):
    pytest.importorskip("scipy")
    # netCDF3 (scipy's engine) holds times as int32: seconds since the first date here
    times = TIMES.floor("s").as_unit("s")
    series = TransformSeries("time", times, make_series().fits, make_series().errors)
    series.to_dataset().to_netcdf(tmp_path / "fits.nc", engine="scipy")
    with xr.open_dataset(tmp_path / "fits.nc", engine="scipy") as stored:
        back = TransformSeries.from_dataset(stored.load())
    assert_same_series(back, series)


def test_dataset_holds_the_parameters_along_time():
    series = make_series()
    table = series.to_dataset()
    assert table.sizes == {"time": 4}
    assert table.indexes["time"].equals(TIMES)
    assert sorted(table.data_vars) == sorted(
        ["rotation_deg", "tx", "ty", "shift_x_px", "shift_y_px", "metric_before", "metric_after",
         "valid_fraction", "error_bound_px", "rotation", "cx", "cy", "crs", "error", "reference",
         "diagnostics",
         "reliable"]
    )  # fmt: skip
    np.testing.assert_array_equal(table["tx"].values, [45.123456789, 1530.0, np.nan, -7.5])
    np.testing.assert_array_equal(table["ty"].values, [-15.987654321, 60.5, np.nan, 3.25])
    # reference pixels, x east and y north: ty / 30, not a row count
    np.testing.assert_array_equal(
        table["shift_y_px"].values, [-15.987654321 / 30.0, 60.5 / 30.0, np.nan, np.nan]
    )
    np.testing.assert_array_equal(table["rotation"].values[[0, 1, 3]],
                                  [math.radians(0.37), -0.001234, 0.0])  # fmt: skip
    assert table["rotation_deg"].values[0] == math.degrees(math.radians(0.37))
    assert table["crs"].values.tolist() == ["EPSG:32616", "EPSG:32616", "", "EPSG:32616"]
    assert table["reliable"].values.tolist() == [True, False, False, True]
    assert table["error"].values.tolist() == list(series.errors)
    assert table["diagnostics"].values[2] == "" and table["diagnostics"].values[3] == ""
    assert Diagnostics.from_dict(json.loads(table["diagnostics"].values[0])) == full_diagnostics()
    assert table["tx"].attrs["units"] == "CRS units"
    assert table["shift_x_px"].attrs["units"] == "reference pixels"
    assert table.attrs["shift_axes"] == "x east, y north"


def test_dataset_holds_each_fits_reference():
    table = make_series().to_dataset()
    references = table["reference"].values.tolist()
    assert json.loads(references[0]) == {
        "shape": [200, 300],
        "transform": [30.0, 0.0, 450000.0, 0.0, -30.0, 3400000.0],
        "nodata": 0.0,
    }
    assert json.loads(references[1])["transform"] == [30.0, 0.0, 450600.0, 0.0, -30.0, 3399700.0]
    assert references[2:] == ["", ""]  # a failed date, a fit made against no known grid
    back = TransformSeries.from_dataset(table)
    assert back[1].reference_geobox == GRID[10:, 20:] and math.isnan(back[1].reference_nodata)
    table["reference"] = table["reference"].copy(data=np.array(["", "", "", ""], dtype=object))
    assert TransformSeries.from_dataset(table) != make_series()  # the reference is part of a fit


def test_from_dataset_applies_edited_shifts():
    series = make_series()
    table = series.to_dataset()
    table["tx"] = table["tx"] + 1.0  # e.g. shifts smoothed along time
    back = TransformSeries.from_dataset(table)
    assert back[0].translation == (45.123456789 + 1.0, -15.987654321)
    assert back[2] is None and back[3].translation == (-6.5, 3.25)


def test_bad_input_is_refused_with_a_reason():
    series = make_series()
    with pytest.raises(CoregError, match=r"no 'cx', 'cy' variable"):
        TransformSeries.from_dataset(series.to_dataset().drop_vars(["cx", "cy"]))
    with pytest.raises(CoregError, match="type='series'"):
        TransformSeries.from_dict(json.loads(series[0].to_json()))
    with pytest.raises(CoregError, match="not JSON"):
        TransformSeries.from_json("{nope")
    with pytest.raises(CoregError, match="4 labels, 3 fits and 4 errors"):
        TransformSeries("time", TIMES, series.fits[:3], series.errors)
    with pytest.raises(CoregError, match="RigidTransform or None"):
        TransformSeries("time", TIMES[:1], ("a fit",), ("",))


# ----------------------------------------------------------------- selection
def test_sel_finds_a_day_whatever_the_hour():
    series = make_series()
    assert series.sel(time="2024-06-01") is series[1]
    assert series.sel(time="2024-06-16") is None  # the failed date
    assert series.sel(time=TIMES[3]) is series[3]
    assert series.sel(time="2024-05-31T16:42:11.254") is series[0]


def test_sel_nearest_and_tolerance():
    series = make_series()
    assert series.sel(time="2024-06-02", method="nearest") is series[1]
    assert series.sel(time="2024-06-30", method="nearest") is series[3]
    assert series.sel(time="2024-06-10", method="pad") is series[1]
    with pytest.raises(KeyError):
        series.sel(time="2024-06-10", method="nearest", tolerance="1D")
    with pytest.raises(KeyError):
        series.sel(time="2024-06-02")  # no scene that day, no method


def test_sel_of_several_dates_gives_a_series():
    series = make_series()
    june = series.sel(time=slice("2024-06", "2024-06"))
    assert isinstance(june, TransformSeries) and len(june) == 2
    assert june.index.equals(TIMES[1:3]) and june.fits == series.fits[1:3]
    assert june.errors == series.errors[1:3]
    picked = series.sel(time=[TIMES[0], TIMES[3]])
    assert picked.fits == (series[0], series[3])
    with pytest.raises(KeyError, match=r"time='2024-06' matches 2 slices"):
        series.sel(time="2024-06")
    with pytest.raises(KeyError, match="select on the one dim 'time'"):
        series.sel(date="2024-06-01")


# ----------------------------------------------------------------- tables
def test_to_dataframe_one_row_per_date():
    series = make_series()
    table = series.to_dataframe()
    assert table.shape == (4, 11)
    assert list(table.columns) == ["shift_x_px", "shift_y_px", "tx", "ty", "rotation_deg",
                                   "metric_before", "metric_after", "valid_fraction",
                                   "error_bound_px", "reliable", "reason"]  # fmt: skip
    assert table.index.equals(TIMES) and table.index.name == "time"
    first = table.iloc[0]
    assert (first["shift_x_px"], first["shift_y_px"]) == (45.123456789 / 30, -15.987654321 / 30)
    assert (first["tx"], first["ty"]) == (45.123456789, -15.987654321)
    assert first["rotation_deg"] == math.degrees(math.radians(0.37))
    assert (first["metric_before"], first["metric_after"]) == (-0.1234567, -0.4567891)
    # 2.5 standard errors' length (an edge-proxy fit); NaN without a fit or diagnostics
    np.testing.assert_allclose(table["error_bound_px"], [0.0125, 0.0125, np.nan, np.nan])
    assert table["reliable"].tolist() == [True, False, False, True]
    assert table["reason"].tolist() == [
        "",
        "shift of 51.0 px > max_shift 50",
        "only 0.00% of the overlap is valid in both rasters",
        "",
    ]
    assert table.iloc[2][["tx", "ty", "shift_x_px", "rotation_deg"]].isna().all()
    assert table.iloc[3][["shift_x_px", "metric_after"]].isna().all()  # no diagnostics


def test_diagnostics_as_a_table_of_chunks():
    table = full_diagnostics().to_dataframe()
    assert table.shape == (2, 14) and table.index.tolist() == [0, 1]
    assert table.index.name == "chunk"
    assert list(table.columns) == ["left", "bottom", "right", "top", "status", "reason",
                                   "rotation_deg", "tx", "ty", "shift_x_px", "shift_y_px",
                                   "clear_share", "anchors", "inliers"]  # fmt: skip
    ok = table.loc[0]
    assert (ok["left"], ok["bottom"], ok["right"], ok["top"]) == CHUNKS[0].bounds
    assert (ok["status"], ok["reason"]) == ("ok", "")
    assert ok["rotation_deg"] == math.degrees(0.0061)
    assert (ok["tx"], ok["ty"], ok["shift_x_px"], ok["shift_y_px"]) == (44.5, -14.75,
                                                                        44.5 / 30, -14.75 / 30)  # fmt: skip
    assert (ok["clear_share"], ok["anchors"], ok["inliers"]) == (0.875, 2, 1)
    skipped = table.loc[1]
    assert (skipped["status"], skipped["reason"]) == ("skipped", "all cloud")
    assert skipped[["rotation_deg", "tx", "shift_y_px", "clear_share"]].isna().all()
    assert (skipped["anchors"], skipped["inliers"]) == (0, 0)


def test_diagnostics_as_a_table_of_anchors():
    table = full_diagnostics().to_dataframe("anchors")
    assert table.shape == (2, 8)
    assert table["chunk"].tolist() == [0, 0]
    assert table["inlier"].tolist() == [True, False]
    assert table[["x", "y", "x_to", "y_to"]].values.tolist() == [list(a) for a in CHUNKS[0].anchors]
    assert table["dx_px"].tolist() == [44.5 / 30, 46.0 / 30]
    assert table["dy_px"].tolist() == [-14.75 / 30, -16.0 / 30]


def test_diagnostics_of_a_single_solve_give_empty_tables():
    diag = full_diagnostics(chunks=())
    assert diag.to_dataframe().shape == (0, 14)
    assert diag.to_dataframe("anchors").shape == (0, 8)
    assert str(diag.to_dataframe()["tx"].dtype) == "float64"
    with pytest.raises(CoregError, match="kind='points': choose 'chunks' or 'anchors'"):
        diag.to_dataframe("points")


def test_geodataframe_without_geopandas_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "geopandas", None)  # import geopandas -> ImportError
    with pytest.raises(ImportError, match=r"needs geopandas.*pip install geopandas"):
        full_diagnostics().to_geodataframe(crs="EPSG:32616")


def test_geodataframe_of_chunk_footprints_and_anchor_points():
    pytest.importorskip("geopandas")
    chunks = full_diagnostics().to_geodataframe(crs="EPSG:32616")
    assert len(chunks) == 2 and chunks.crs.to_epsg() == 32616
    assert chunks.geometry.area.tolist() == [4500.0 * 6000.0, 4500.0 * 6000.0]
    assert chunks.geometry.iloc[0].bounds == CHUNKS[0].bounds
    points = full_diagnostics().to_geodataframe("anchors", crs="EPSG:32616")
    assert [(p.x, p.y) for p in points.geometry] == [a[:2] for a in CHUNKS[0].anchors]
    assert points["inlier"].tolist() == [True, False]
