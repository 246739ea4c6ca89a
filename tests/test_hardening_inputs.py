"""Inputs that used to pass silently: non-finite or malformed transforms, and band numbers that
meant another band than a rioxarray user means."""

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

import xr_coregix
from xr_coregix import BandSelectionError, CoregError, NoStructureError, RigidTransform
from xr_coregix.xr.bands import select_band

GRID = GeoBox((40, 50), Affine(30, 0, 0, 0, -30, 1200), "EPSG:32616")


def raises_exactly(error, message):
    return pytest.raises(error, match=f"^{re.escape(message)}$")


# ----------------------------------------------------------------- RigidTransform


def fit_dict(**fields):
    data = RigidTransform(0.01, (30.0, -15.0), (100.0, 200.0), "EPSG:32616").to_dict()
    data.update(fields)
    return data


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"rotation": math.nan}, "RigidTransform rotation=nan: must be a finite number (radians)"),
        (
            {"rotation": -math.inf},
            "RigidTransform rotation=-inf: must be a finite number (radians)",
        ),
        (
            {"translation": [1.5]},
            (
                "RigidTransform translation=[1.5]: must be two finite numbers (tx, ty) in CRS "
                "units, not 1 value"
            ),
        ),
        (
            {"translation": [1.0, 2.0, 3.0]},
            (
                "RigidTransform translation=[1.0, 2.0, 3.0]: must be two finite numbers (tx, ty) "
                "in CRS units, not 3 values"
            ),
        ),
        (
            {"translation": [math.inf, 0.0]},
            (
                "RigidTransform translation=[inf, 0.0]: must be two finite numbers (tx, ty) in CRS "
                "units"
            ),
        ),
        (
            {"translation": "12"},
            "RigidTransform translation='12': must be two finite numbers (tx, ty) in CRS units",
        ),
        (
            {"center": [0.0, math.nan]},
            "RigidTransform center=[0.0, nan]: must be two finite numbers (cx, cy) in CRS units",
        ),
        (
            {"center": [None, 0.0]},
            "RigidTransform center=[None, 0.0]: must be two finite numbers (cx, cy) in CRS units",
        ),
    ],
)
def test_from_dict_refuses_non_finite_and_wrong_lengths(fields, message):
    with raises_exactly(CoregError, message):
        RigidTransform.from_dict(fit_dict(**fields))


def test_from_json_refuses_nan_and_infinity_literals():
    # Python's json reads NaN and Infinity: that is how a NaN fit arrives from a file
    text = json.dumps(fit_dict(rotation=math.nan))
    assert '"rotation": NaN' in text
    with raises_exactly(
        CoregError, "RigidTransform rotation=nan: must be a finite number (radians)"
    ):
        RigidTransform.from_json(text)
    text = json.dumps(fit_dict(translation=[0.0, -math.inf]))
    with raises_exactly(
        CoregError,
        "RigidTransform translation=[0.0, -inf]: must be two finite numbers (tx, ty) in CRS units",
    ):
        RigidTransform.from_json(text)


@pytest.mark.parametrize(
    "args,message",
    [
        ((math.nan, (0.0, 0.0)), "RigidTransform rotation=nan: must be a finite number (radians)"),
        (
            (np.float64("inf"), (0.0, 0.0)),
            "RigidTransform rotation=inf: must be a finite number (radians)",
        ),
        (
            (0.0, (1.0,)),
            (
                "RigidTransform translation=(1.0,): must be two finite numbers (tx, ty) in CRS "
                "units, not 1 value"
            ),
        ),
        (
            (0.0, np.array([1.0, np.nan])),
            (
                "RigidTransform translation=(1.0, nan): must be two finite numbers (tx, ty) in CRS "
                "units"
            ),
        ),
        (
            (0.0, (0.0, 0.0), (math.inf, 0.0)),
            "RigidTransform center=(inf, 0.0): must be two finite numbers (cx, cy) in CRS units",
        ),
        ((True, (0.0, 0.0)), "RigidTransform rotation=True: must be a finite number (radians)"),
    ],
)
def test_constructor_refuses_non_finite_and_wrong_lengths(args, message):
    with raises_exactly(CoregError, message):
        RigidTransform(*args)


def test_replace_is_checked_too():
    fit = RigidTransform(0.0, (30.0, 0.0))
    with raises_exactly(
        CoregError, "RigidTransform rotation=nan: must be a finite number (radians)"
    ):
        replace(fit, rotation=math.nan)


def test_valid_numbers_of_any_kind_are_still_accepted():
    fit = RigidTransform(np.float32(0.5), np.array([1, 2]), [np.int64(3), 4.0], "EPSG:32616")
    assert (fit.rotation, fit.translation, fit.center) == (0.5, (1.0, 2.0), (3.0, 4.0))
    assert all(type(v) is float for v in (fit.rotation, *fit.translation, *fit.center))
    assert RigidTransform.from_json(fit.to_json()) == fit


@pytest.mark.parametrize(
    "data,message",
    [
        (
            [0.0, [1.0, 2.0]],
            "RigidTransform.from_dict needs a dict (to_dict() output), not a list",
        ),
        (
            {"rotation": 0.0, "translation": [1.0, 2.0]},
            (
                "RigidTransform.from_dict: no 'center' field in ['rotation', 'translation'] "
                "(expected to_dict() output)"
            ),
        ),
        (
            {"type": "affine", "rotation": 0.0, "translation": [1.0, 2.0], "center": [0, 0]},
            "RigidTransform.from_dict: type='affine', expected 'rigid'",
        ),
        (
            fit_dict(diagnostics={"metric_before": 1.0}),
            (
                "RigidTransform.from_dict: the diagnostics cannot be read (KeyError: 'stages'); "
                "drop them (diagnostics=None) to keep the transform alone"
            ),
        ),
    ],
)
def test_from_dict_refuses_what_is_not_a_transform(data, message):
    with raises_exactly(CoregError, message):
        RigidTransform.from_dict(data)


def test_from_json_refuses_text_that_is_not_json():
    with raises_exactly(
        CoregError,
        "RigidTransform.from_json: the text is not JSON (Expecting value: line 1 column 1 "
        "(char 0))",
    ):
        RigidTransform.from_json("shift 3 px")


def test_apply_never_gets_a_nan_fit_from_a_file(fixed):
    # before: the fit loaded, and apply returned an all-nodata raster without an error
    text = json.dumps(fit_dict(rotation=math.nan, crs="EPSG:32616"))
    with raises_exactly(
        CoregError, "RigidTransform rotation=nan: must be a finite number (radians)"
    ):
        xr_coregix.apply(fixed, RigidTransform.from_json(text))


# ----------------------------------------------------------------- band selection


def raster(labels=(1, 2, 3)):
    """A (band, y, x) raster as rioxarray reads it: band ``k`` holds the value ``10 * k``."""
    values = np.stack([np.full(GRID.shape, 10 * k, np.float32) for k in labels])
    coords = {"band": list(labels), **xr_coords(GRID, dims=("y", "x"))}
    return xr.DataArray(values, dims=("band", "y", "x"), coords=coords)


def picked(obj, band, name="moving_band"):
    return float(select_band(obj, band, name)[0, 0])


@pytest.mark.parametrize(
    "band,value",
    [
        (0, 10.0),  # label 0 does not exist: position 0, the first band
        (3, 30.0),  # position 3 does not exist: label 3, the last band (before: out of range)
        (-1, 30.0),  # label -1 does not exist: the last position
        (np.int64(3), 30.0),  # numpy integers read as ints do
        ({"label": 1}, 10.0),
        ({"label": 2}, 20.0),
        ({"position": 1}, 20.0),
        ({"position": -3}, 10.0),
    ],
)
def test_integer_band_reads_the_rioxarray_label_when_unambiguous(band, value):
    assert picked(raster(), band) == value


@pytest.mark.parametrize(
    "band,message",
    [
        (
            1,
            (
                "moving_band=1 is ambiguous: label 1 is position 0, position 1 is label 2 "
                "(rioxarray numbers bands from 1, as GDAL does); pass moving_band={'label': 1} or "
                "moving_band={'position': 1} to choose"
            ),
        ),
        (
            2,
            (
                "moving_band=2 is ambiguous: label 2 is position 1, position 2 is label 3 "
                "(rioxarray numbers bands from 1, as GDAL does); pass moving_band={'label': 2} or "
                "moving_band={'position': 2} to choose"
            ),
        ),
    ],
)
def test_integer_band_that_is_both_a_label_and_a_position_is_refused(band, message):
    # before: moving_band=1 silently selected the second band (position 1)
    with raises_exactly(BandSelectionError, message):
        select_band(raster(), band, "moving_band")


def test_single_band_raster_takes_zero_and_one():
    one = raster(labels=(1,))
    assert picked(one, 0) == picked(one, 1) == picked(one, -1) == 10.0  # before: 1 refused


def test_label_and_position_that_agree_are_not_ambiguous():
    zero_based = raster(labels=(0, 1, 2))
    assert [picked(zero_based, b) for b in (0, 1, 2)] == [0.0, 10.0, 20.0]


@pytest.mark.parametrize(
    "obj,band,message",
    [
        (
            raster(),
            4,
            (
                "moving_band=4 is out of range: dim 'band' has 3 bands (positions 0 to 2, "
                "labels [1, 2, 3])"
            ),
        ),
        (
            raster(),
            {"position": 3},
            (
                "moving_band={'position': 3} is out of range: dim 'band' has 3 bands (positions 0 "
                "to 2)"
            ),
        ),
        (
            raster(),
            {"label": 0},
            "moving_band={'label': 0} is not a label of dim 'band' (labels [1, 2, 3])",
        ),
        (
            raster(),
            {"band": 2},
            (
                "moving_band={'band': 2}: pass a band as {'label': value} or {'position': int} "
                "(or a plain value)"
            ),
        ),
        (
            raster(),
            {"position": "2"},
            "moving_band={'position': '2'}: a position is a whole number (0-based)",
        ),
        (
            raster().isel(band=0),
            {"label": 1},
            "moving_band={'label': 1} but the raster has a single band (dims ('y', 'x')); pass 0",
        ),
    ],
)
def test_bad_band_messages(obj, band, message):
    with raises_exactly(BandSelectionError, message):
        select_band(obj, band, "moving_band")


def test_bands_without_integer_labels_keep_positions():
    bare = raster().drop_vars("band")
    assert [picked(bare, b) for b in (0, 1, 2)] == [10.0, 20.0, 30.0]
    named = raster().assign_coords(band=["red", "green", "nir"])
    assert [picked(named, b) for b in (1, "nir", {"label": "red"})] == [20.0, 30.0, 10.0]


def test_dataset_variables_keep_positions_and_take_the_explicit_forms():
    ds = raster().to_dataset(dim="band").rename({1: "red", 2: "green", 3: "nir"})
    assert [picked(ds, b) for b in (1, {"position": 2}, {"label": "red"}, "green")] == [
        20.0,
        30.0,
        10.0,
        20.0,
    ]
    with raises_exactly(
        BandSelectionError,
        "moving_band={'label': 'blue'} is not a raster variable of the Dataset; choose one of "
        "['red', 'green', 'nir']",
    ):
        select_band(ds, {"label": "blue"}, "moving_band")


@pytest.fixture(scope="module")
def three_bands(b4):
    """B4 as labels 1 and 3 of a rioxarray-like raster, a constant band as label 2."""
    flat = b4.copy(data=np.full(b4.shape, 500, b4.dtype))
    stacked = xr.concat([b4, flat, b4], dim="band").assign_coords(band=[1, 2, 3])
    return stacked.rio.write_crs(b4.rio.crs)


def test_register_reads_integer_bands_as_rioxarray_labels(three_bands, fixed):
    by_label = xr_coregix.register(three_bands, fixed, moving_band=3)  # before: out of range
    assert by_label == xr_coregix.register(three_bands, fixed, moving_band={"label": 1})
    assert by_label == xr_coregix.register(three_bands, fixed, moving_band=0)
    with raises_exactly(
        BandSelectionError,
        "moving_band=1 is ambiguous: label 1 is position 0, position 1 is label 2 (rioxarray "
        "numbers bands from 1, as GDAL does); pass moving_band={'label': 1} or "
        "moving_band={'position': 1} to choose",
    ):
        xr_coregix.register(three_bands, fixed, moving_band=1)
    with pytest.raises(NoStructureError, match="^moving has no structure"):
        xr_coregix.register(three_bands, fixed, moving_band={"position": 1})  # the flat band


def test_trim_detection_band_follows_the_same_rule():
    collar = raster()
    values = collar.values.copy()
    values[2, :3, :] = 0  # only band label 3 has an invalid strip along the top
    collar = collar.copy(data=values).rio.write_nodata(0)
    trimmed = xr_coregix.trim_edge_invalid(collar, depth=2, detection_band=3)
    assert int((trimmed.values[0] == 0).sum()) == 5 * GRID.shape[1]  # 3 + 2 rows, every band
    untouched = xr_coregix.trim_edge_invalid(collar, depth=2, detection_band={"position": 1})
    assert int((untouched.values[0] == 0).sum()) == 0
    with pytest.raises(BandSelectionError, match=r"^detection_band=2 is ambiguous"):
        xr_coregix.trim_edge_invalid(collar, depth=2, detection_band=2)


def test_plot_compare_follows_the_same_rule():
    pytest.importorskip("matplotlib")
    import xr_coregix.plot

    moving = raster().rio.write_crs(GRID.crs)
    with pytest.raises(BandSelectionError, match=r"^moving_band=2 is ambiguous"):
        xr_coregix.plot.compare(moving, moving, RigidTransform.identity(), moving_band=2)
