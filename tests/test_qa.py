"""Exclusion masks from quality bands: exact pixels on hand-built bands and on a real Landsat BQA."""

from pathlib import Path

import dask.array
import numpy as np
import pytest
import rioxarray
import xarray as xr

import xr_coregix
from xr_coregix import BandSelectionError, CoregError, DataTypeError
from xr_coregix.core.qa import bit_field, landsat_qa_clouds, scl_clouds, values_or_bits
from xr_coregix.xr.qa import landsat_qa_mask, qa_mask, scl_mask

BQA = Path(__file__).parent / "data" / "scene_BQA.tif"

# One pixel per interesting value of each layout: a single flag bit, or a 2-bit confidence field
# (offset, value), as the USGS product guides lay them out.
C2 = {
    "none": 0,
    "fill": 1 << 0,
    "dilated": 1 << 1,
    "cirrus_bit": 1 << 2,
    "cloud_bit": 1 << 3,
    "shadow_bit": 1 << 4,
    "snow_bit": 1 << 5,
    "clear": 1 << 6,
    "water": 1 << 7,
    **{f"cloud_{c}": c << 8 for c in (1, 2, 3)},
    **{f"shadow_{c}": c << 10 for c in (1, 2, 3)},
    **{f"snow_{c}": c << 12 for c in (1, 2, 3)},
    **{f"cirrus_{c}": c << 14 for c in (1, 2, 3)},
}
C1 = {
    "none": 0,
    "fill": 1 << 0,
    "terrain": 1 << 1,
    "saturation": 3 << 2,
    "cloud_bit": 1 << 4,
    **{f"cloud_{c}": c << 5 for c in (1, 2, 3)},
    **{f"shadow_{c}": c << 7 for c in (1, 2, 3)},
    **{f"snow_{c}": c << 9 for c in (1, 2, 3)},
    **{f"cirrus_{c}": c << 11 for c in (1, 2, 3)},
}
PRE = {
    "none": 0,
    "fill": 1 << 0,
    "dropped": 1 << 1,
    "terrain": 1 << 2,
    **{f"water_{c}": c << 4 for c in (1, 2, 3)},
    **{f"snow_{c}": c << 10 for c in (1, 2, 3)},
    **{f"cirrus_{c}": c << 12 for c in (1, 2, 3)},
    **{f"cloud_{c}": c << 14 for c in (1, 2, 3)},
}
LAYOUTS = {"collection2": C2, "collection1": C1, "pre-collection": PRE}
OFF = {"cloud": False, "cirrus": False, "shadow": False, "snow": False}


def excluded(layout, **kwargs):
    """The names of the pixels of ``layout``'s table that ``landsat_qa_clouds`` excludes."""
    table = LAYOUTS[layout]
    qa = np.array(list(table.values()), np.uint16)
    mask = landsat_qa_clouds(qa, layout, **kwargs)
    assert mask.dtype == bool and mask.shape == qa.shape
    return {name for name, out in zip(table, mask, strict=True) if out}


def raster(values, *, band=False, crs=32616):
    """A georeferenced DataArray of ``values`` (30 m pixels), with a band dim when asked."""
    values = np.asarray(values)
    ny, nx = values.shape
    da = xr.DataArray(
        values,
        dims=("y", "x"),
        coords={"y": 3_400_000.0 - 30 * np.arange(ny), "x": 450_000.0 + 30 * np.arange(nx)},
    )
    if band:
        da = da.expand_dims(band=[1])
    return da.rio.write_crs(crs)


# -- bit_field ------------------------------------------------------------------------------


def test_bit_field_values():
    qa = np.array([0b1011_0110, 0xFFFF, 0], np.uint16)
    assert bit_field(qa, 1, 2).tolist() == [0b11, 3, 0]
    assert bit_field(qa, 4, 4).tolist() == [0b1011, 15, 0]
    assert bit_field(qa, 15).tolist() == [0, 1, 0]
    assert bit_field(qa, 0, 16).tolist() == [0b1011_0110, 0xFFFF, 0]
    assert bit_field(qa, 0).dtype == np.uint16


def test_bit_field_reads_signed_as_raw_bits():
    qa = np.array([-1, -32768, 5], np.int16)  # 0xFFFF, 0x8000, 0x0005
    assert bit_field(qa, 14, 2).tolist() == [3, 2, 0]
    assert bit_field(qa, 0, 3).tolist() == [7, 0, 5]


def test_bit_field_errors():
    qa = np.zeros(3, np.uint8)
    with pytest.raises(CoregError, match=r"^offset=8 .* 0 to 7"):
        bit_field(qa, 8)
    with pytest.raises(CoregError, match=r"^width=3 .* 1 to 2"):
        bit_field(qa, 6, 3)
    with pytest.raises(CoregError, match=r"^width=0 "):
        bit_field(qa, 0, 0)
    with pytest.raises(DataTypeError, match=r"^qa has dtype float32"):
        bit_field(qa.astype(np.float32), 0)


# -- Landsat Collection 2 QA_PIXEL ---------------------------------------------------------


def test_collection2_defaults():
    assert excluded("collection2") == {
        "dilated", "cloud_bit", "cloud_2", "cloud_3",
        "cirrus_bit", "cirrus_2", "cirrus_3",
        "shadow_bit", "shadow_2", "shadow_3",
    }  # fmt: skip


def test_collection2_each_flag():
    assert excluded("collection2", **{**OFF, "cloud": True}) == {
        "dilated", "cloud_bit", "cloud_2", "cloud_3"
    }  # fmt: skip
    assert excluded("collection2", **{**OFF, "cirrus": True}) == {
        "cirrus_bit", "cirrus_2", "cirrus_3"
    }  # fmt: skip
    assert excluded("collection2", **{**OFF, "shadow": True}) == {
        "shadow_bit", "shadow_2", "shadow_3"
    }  # fmt: skip
    assert excluded("collection2", **{**OFF, "snow": True}) == {"snow_bit", "snow_2", "snow_3"}
    assert excluded("collection2", **OFF) == set()


def test_collection2_confidence_levels():
    cloud = {**OFF, "cloud": True}
    flags = {"dilated", "cloud_bit"}  # flag bits exclude whatever the confidence
    assert excluded("collection2", **cloud, confidence="low") == flags | {
        "cloud_1", "cloud_2", "cloud_3"
    }  # fmt: skip
    assert excluded("collection2", **cloud, confidence="medium") == flags | {"cloud_2", "cloud_3"}
    assert excluded("collection2", **cloud, confidence="high") == flags | {"cloud_3"}


def test_collection2_typical_values():
    # USGS Collection 2 QA_PIXEL values of Landsat 8: clear land, clear water, high confidence
    # cloud, cloud shadow, high confidence cirrus and cloud, fill
    qa = np.array([21824, 21952, 22280, 23888, 55052, 1], np.uint16)
    assert landsat_qa_clouds(qa).tolist() == [False, False, True, True, True, False]
    # clear land carries a low confidence of everything: "low" excludes it
    assert landsat_qa_clouds(qa, confidence="low").tolist() == [True] * 5 + [False]


# -- Landsat 8 Collection 1 BQA --------------------------------------------------------------


def test_collection1_defaults_and_flags():
    assert excluded("collection1") == {
        "cloud_bit", "cloud_2", "cloud_3", "cirrus_2", "cirrus_3", "shadow_2", "shadow_3"
    }  # fmt: skip
    assert excluded("collection1", **{**OFF, "snow": True}) == {"snow_2", "snow_3"}
    assert excluded("collection1", **{**OFF, "shadow": True}, confidence="high") == {"shadow_3"}
    assert excluded("collection1", **{**OFF, "cirrus": True}, confidence="low") == {
        "cirrus_1", "cirrus_2", "cirrus_3"
    }  # fmt: skip


# -- Landsat 8 pre-collection BQA ------------------------------------------------------------


def test_pre_collection_defaults_and_flags():
    # no shadow field: the default shadow=True does not apply, and nothing else is read
    assert excluded("pre-collection") == {"cloud_2", "cloud_3", "cirrus_2", "cirrus_3"}
    assert excluded("pre-collection", **{**OFF, "shadow": True}) == set()
    assert excluded("pre-collection", **{**OFF, "snow": True}) == {"snow_2", "snow_3"}
    assert excluded("pre-collection", **{**OFF, "cloud": True}, confidence="low") == {
        "cloud_1", "cloud_2", "cloud_3"
    }  # fmt: skip
    assert excluded("pre-collection", **{**OFF, "cloud": True}, confidence="high") == {"cloud_3"}


def test_layouts_read_different_bits():
    qa = np.array([1 << 4, 1 << 14, 2 << 14], np.uint16)
    cloud = {**OFF, "cloud": True}
    assert landsat_qa_clouds(qa, "collection2", **cloud).tolist() == [False, False, False]
    assert landsat_qa_clouds(qa, "collection1", **cloud).tolist() == [True, False, False]
    assert landsat_qa_clouds(qa, "pre-collection", **cloud).tolist() == [False, False, True]


def test_landsat_argument_errors():
    qa = np.zeros((2, 2), np.uint16)
    with pytest.raises(CoregError, match=r"^layout='c2' .*'collection2'.*'pre-collection'"):
        landsat_qa_clouds(qa, "c2")
    with pytest.raises(CoregError, match=r"^confidence='maybe' .*'low', 'medium', 'high'"):
        landsat_qa_clouds(qa, confidence="maybe")
    with pytest.raises(CoregError, match=r"^snow='yes' must be True or False"):
        landsat_qa_clouds(qa, snow="yes")
    with pytest.raises(DataTypeError, match=r"^qa has dtype float64"):
        landsat_qa_clouds(qa.astype(float))
    with pytest.raises(DataTypeError, match=r"^qa has dtype uint8.* 16 bits"):
        landsat_qa_clouds(qa.astype(np.uint8))


# -- Sentinel-2 SCL and generic values/bits --------------------------------------------------


def test_scl_classes():
    scl = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.flatnonzero(scl_clouds(scl)).tolist() == [0, 1, 3, 8, 9, 10]
    assert np.flatnonzero(scl_clouds(scl, classes=[2, 11])).tolist() == [2, 11]
    assert scl_clouds(scl).shape == (3, 4)
    with pytest.raises(CoregError, match=r"^classes=\(3, 12\) holds \[12\]: .* 0 to 11"):
        scl_clouds(scl, classes=(3, 12))
    with pytest.raises(DataTypeError, match=r"^scl has dtype float32"):
        scl_clouds(scl.astype(np.float32))


def test_values_or_bits():
    data = np.array([0, 1, 2, 4, 128, 129, 255], np.uint8)
    assert values_or_bits(data, values=(0, 255)).tolist() == [1, 0, 0, 0, 0, 0, 1]
    assert values_or_bits(data, bits=(7,)).tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert values_or_bits(data, bits=[0, 2]).tolist() == [0, 1, 0, 1, 0, 1, 1]
    assert values_or_bits(data, values=[2], bits=[7]).tolist() == [0, 0, 1, 0, 1, 1, 1]
    signed = np.array([-128, -1, 0, 127], np.int8)
    assert values_or_bits(signed, bits=(7,)).tolist() == [1, 1, 0, 0]
    assert values_or_bits(signed, values=(-1,)).tolist() == [0, 1, 0, 0]


def test_values_or_bits_errors():
    data = np.zeros(3, np.uint8)
    with pytest.raises(CoregError, match=r"values=\(\.\.\.\) or bits=\(\.\.\.\)"):
        values_or_bits(data)
    with pytest.raises(CoregError, match=r"^bits=\(8,\) holds \[8\]: .* 0 to 7"):
        values_or_bits(data, bits=(8,))
    with pytest.raises(CoregError, match=r"^values=\(256,\) holds \[256\]: .* 0 to 255"):
        values_or_bits(data, values=(256,))
    with pytest.raises(CoregError, match=r"^values=1 must be a sequence"):
        values_or_bits(data, values=1)
    with pytest.raises(CoregError, match=r"^bits=\(1.5,\) holds"):
        values_or_bits(data, bits=(1.5,))
    with pytest.raises(DataTypeError, match=r"^data has dtype bool"):
        values_or_bits(data.astype(bool), values=(1,))


# -- the xarray layer: a real Landsat 8 pre-collection BQA -----------------------------------


@pytest.fixture(scope="module")
def bqa():
    return rioxarray.open_rasterio(BQA)


def test_real_bqa_cloud_medium(bqa):
    raw = bqa.values[0]
    assert raw.dtype == np.uint16 and raw.shape == (603, 627)
    truth = ((raw >> 14) & 0b11) >= 2  # cloud confidence medium or high
    mask = landsat_qa_mask(bqa, "pre-collection", cloud=True, cirrus=False, shadow=False)
    assert mask.dtype == bool and mask.dims == ("y", "x") and mask.name == "exclude"
    assert int(mask.sum()) == int(truth.sum()) == 56_182  # 8.84 % medium + 6.02 % high
    np.testing.assert_array_equal(mask.values, truth)
    # the CRS and the grid survive, the band's metadata does not
    assert mask.rio.crs == bqa.rio.crs
    assert mask.rio.transform() == bqa.rio.transform()
    np.testing.assert_array_equal(mask.x, bqa.x)
    np.testing.assert_array_equal(mask.y, bqa.y)
    assert mask.attrs == {} and "_FillValue" not in mask.encoding


def test_real_bqa_defaults(bqa):
    raw = bqa.values[0]
    truth = (((raw >> 14) & 0b11) >= 2) | (((raw >> 12) & 0b11) >= 2)  # cloud or cirrus
    mask = landsat_qa_mask(bqa, "pre-collection")
    np.testing.assert_array_equal(mask.values, truth)
    assert int(mask.sum()) == int(truth.sum())


def test_real_bqa_lazy(bqa):
    lazy = rioxarray.open_rasterio(BQA, chunks={"y": 256, "x": 256})
    mask = landsat_qa_mask(lazy, "pre-collection", cirrus=False)
    assert isinstance(mask.data, dask.array.Array)
    assert mask.chunks == ((256, 256, 91), (256, 256, 115))
    assert mask.rio.crs == bqa.rio.crs
    eager = landsat_qa_mask(bqa, "pre-collection", cirrus=False)
    np.testing.assert_array_equal(mask.compute().values, eager.values)
    assert int(mask.sum().compute()) == 56_182


def test_lazy_input_checks_arguments_at_call_time():
    lazy = rioxarray.open_rasterio(BQA, chunks={"y": 256, "x": 256})
    with pytest.raises(CoregError, match=r"^confidence="):
        landsat_qa_mask(lazy, "pre-collection", confidence="certain")
    with pytest.raises(CoregError, match=r"^bits="):
        qa_mask(lazy, bits=(16,))


# -- the xarray layer: shapes, metadata, errors ----------------------------------------------


def test_wrappers_on_band_and_2d_rasters():
    scl = np.array([[0, 4, 8], [3, 11, 10]], np.uint8)
    for da in (raster(scl), raster(scl, band=True)):
        mask = scl_mask(da)
        assert mask.dims == ("y", "x") and mask.name == "exclude"
        assert mask.values.tolist() == [[True, False, True], [True, False, True]]
        assert mask.rio.crs == da.rio.crs
    assert scl_mask(raster(scl), classes=(11,)).values.tolist() == [[0, 0, 0], [0, 1, 0]]
    assert qa_mask(raster(scl), values=(4,), bits=(3,)).values.tolist() == [[0, 1, 1], [0, 1, 1]]
    qa = np.array([[C2["clear"], C2["cloud_bit"]], [C2["shadow_3"], C2["snow_bit"]]], np.uint16)
    assert landsat_qa_mask(raster(qa)).values.tolist() == [[0, 1], [1, 0]]
    assert landsat_qa_mask(raster(qa), snow=True, shadow=False).values.tolist() == [[0, 1], [0, 1]]


def test_fill_value_and_nodata_do_not_reach_the_mask():
    da = raster(np.array([[0, 9], [4, 9]], np.uint8), band=True)
    da.attrs.update({"_FillValue": 0, "nodata": 0, "scale_factor": 1.0, "long_name": "SCL"})
    da.encoding.update({"_FillValue": 0, "dtype": "uint8"})
    mask = scl_mask(da)
    assert mask.attrs == {}
    assert mask.encoding == {"grid_mapping": "spatial_ref"}
    assert mask.rio.nodata is None and mask.rio.encoded_nodata is None
    assert mask.values.tolist() == [[True, True], [False, True]]
    assert mask.spatial_ref.attrs == da.spatial_ref.attrs  # the CRS coordinate is intact


def test_wrapper_errors_name_the_argument():
    qa = raster(np.zeros((2, 3), np.uint16))
    with pytest.raises(DataTypeError, match=r"^qa has dtype float32"):
        landsat_qa_mask(qa.astype(np.float32))
    with pytest.raises(DataTypeError, match=r"^qa has dtype float64"):
        qa_mask(qa.astype(float), values=(1,))
    with pytest.raises(DataTypeError, match=r"^scl has dtype float64"):
        scl_mask(qa.astype(float))
    with pytest.raises(CoregError, match=r"^layout='collection3'"):
        landsat_qa_mask(qa, "collection3")
    with pytest.raises(CoregError, match=r"^confidence='very high'"):
        landsat_qa_mask(qa, confidence="very high")
    with pytest.raises(CoregError, match=r"^classes=\(42,\)"):
        scl_mask(qa, classes=(42,))
    with pytest.raises(CoregError, match=r"values=\(\.\.\.\) or bits=\(\.\.\.\)"):
        qa_mask(qa)
    two = xr.concat([qa.expand_dims(band=[1]), qa.expand_dims(band=[2])], "band")
    with pytest.raises(BandSelectionError, match=r"^qa has dims \{'band': 2"):
        landsat_qa_mask(two)
    with pytest.raises(BandSelectionError, match=r"^scl has dims"):
        scl_mask(two)
    with pytest.raises(BandSelectionError, match=r"^qa has dims"):
        qa_mask(two.expand_dims(time=[0, 1]), bits=(0,))


def test_a_cube_keeps_its_time_dim():
    """A quality band of several dates: one mask a date, as register takes them."""
    da = raster(np.array([[8, 4]], np.uint8))
    cube = xr.concat([da, da + 1], "time").assign_coords(
        time=np.array(["2024-06-01", "2024-07-01"], dtype="datetime64[ns]")
    )
    out = scl_mask(cube.expand_dims(band=[1], axis=1))
    assert out.dims == ("time", "y", "x")
    assert out.values.tolist() == [[[True, False]], [[True, False]]]  # 8, 4 then 9, 5


def test_generator_arguments_are_used_once():
    da = raster(np.array([[8, 4]], np.uint8))
    assert scl_mask(da, classes=(c for c in (8,))).values.tolist() == [[True, False]]
    assert qa_mask(da, bits=(b for b in (2,))).values.tolist() == [[False, True]]


def test_exported():
    assert xr_coregix.landsat_qa_mask is landsat_qa_mask
    assert xr_coregix.scl_mask is scl_mask
    assert xr_coregix.qa_mask is qa_mask
    assert {"landsat_qa_mask", "scl_mask", "qa_mask"} <= set(xr_coregix.__all__)
