"""Nodata and dtypes end to end: each variable's nodata in a written Dataset, masked (decoded)
input, float16, and values too large or too small for float32 gradients."""

import math

import numpy as np
import pytest
import rioxarray
import xarray as xr
from synthetic import misregister, rigid

import xr_coregix
from xr_coregix import displacement_error
from xr_coregix.core.proxy import edge_proxy
from xr_coregix.io import file_nodata

HOLE = (slice(150, 190), slice(120, 170))  # inside the reference's area: 40 x 50 pixels
RED_HOLE = (slice(60, 90), slice(200, 260))  # 30 x 60 pixels


@pytest.fixture(scope="module")
def moved(b4):
    """B4 on its own grid, misregistered by 2.3, -1.7 px and 0.4 degrees: float32, NaN where
    the misregistered grid leaves B4 (a band of pixels along the edges)."""
    truth = rigid(2.3, -1.7, 0.4, b4.odc.geobox)
    return misregister(b4, truth, b4.odc.geobox).rio.write_crs(b4.rio.crs)


@pytest.fixture(scope="module")
def moved_fit(moved, fixed):
    return xr_coregix.register(moved, fixed)


@pytest.fixture(scope="module")
def masked_path(moved, tmp_path_factory):
    """A uint16 GeoTIFF with nodata 0: the misregistered B4, nodata along the edges and in a
    hole inside the reference's area."""
    counts = moved.copy()
    counts[HOLE] = np.nan
    counts = counts.clip(1, 65535).round().fillna(0).astype(np.uint16).rio.write_nodata(0)
    path = tmp_path_factory.mktemp("masked") / "moving.tif"
    counts.rio.to_raster(path)
    return path


# 1. a Dataset's variables with different nodata, written to one file


@pytest.mark.parametrize("grid", ["source", "reference"])
def test_every_variable_keeps_its_nodata_in_the_file(moved, moved_fit, grid, tmp_path):
    nir = moved.copy()
    nir[HOLE] = np.nan
    red = moved.fillna(0).round().astype(np.uint16)
    red[RED_HOLE] = 0
    ds = xr.Dataset({"nir": nir, "red": red.rio.write_nodata(0)})
    out = xr_coregix.apply(ds, moved_fit, grid=grid)
    assert out.red.dtype == np.uint16 and out.red.rio.nodata == 0
    assert out.nir.dtype == np.float32 and math.isnan(out.nir.rio.nodata)
    nir_gap, red_gap = np.isnan(out.nir.values), out.red.values == 0
    assert int(red_gap.sum()) > 1000 and int(nir_gap.sum()) > 1000  # at least the holes

    path = xr_coregix.write_geotiff(out, tmp_path / "both.tif")
    raw = rioxarray.open_rasterio(path)
    assert raw.dtype == np.float32 and math.isnan(raw.rio.nodata)  # uint16 promoted: NaN fits
    assert raw.rio.crs == moved.rio.crs and raw.attrs["long_name"] == ("nir", "red")
    back = rioxarray.open_rasterio(path, masked=True)
    masked = back.isnull().values
    assert [int(m.sum()) for m in masked] == [int(nir_gap.sum()), int(red_gap.sum())]
    np.testing.assert_array_equal(masked[0], nir_gap)
    np.testing.assert_array_equal(masked[1], red_gap)
    np.testing.assert_array_equal(back.values[1][~red_gap], out.red.values[~red_gap])
    np.testing.assert_array_equal(back.values[0][~nir_gap], out.nir.values[~nir_gap])


def test_integer_variables_with_different_nodata_are_written_as_float(fixed, tmp_path):
    a = fixed.squeeze("band", drop=True).copy()
    b = a.copy()
    a[:10] = 0
    b[:, :7] = 65535
    ds = xr.Dataset({"a": a.rio.write_nodata(0), "b": b.rio.write_nodata(65535)})
    back = rioxarray.open_rasterio(xr_coregix.write_geotiff(ds, tmp_path / "ab.tif"), masked=True)
    assert back.encoding["dtype"] == "float32"
    assert [int(m.sum()) for m in back.isnull().values] == [10 * 320, 7 * 320]
    np.testing.assert_array_equal(back.values[0, 10:], a.values[10:].astype(np.float32))


def test_variables_sharing_a_nodata_keep_the_dtype(fixed, tmp_path):
    a = fixed.squeeze("band", drop=True).copy()
    a[:10] = 0
    ds = xr.Dataset({"a": a.rio.write_nodata(0), "b": fixed.squeeze("band", drop=True)})
    ds["b"] = ds.b.rio.write_nodata(0)
    raw = rioxarray.open_rasterio(xr_coregix.write_geotiff(ds, tmp_path / "ab.tif"))
    assert raw.dtype == np.uint16 and raw.rio.nodata == 0
    assert [int(n) for n in (raw.values == 0).sum(axis=(1, 2))] == [10 * 320, 0]


@pytest.mark.parametrize(
    "nodatas,dtype,expected",
    [
        ([0.0, 0.0], "uint16", (0.0, "uint16")),
        ([None, None], "int16", (None, "int16")),
        ([math.nan, 0.0], "float32", (math.nan, "float32")),
        ([0.0, None], "uint16", (math.nan, "float32")),
        ([0.0, -1.0], "int32", (math.nan, "float64")),
        ([-9999.0, 0.0], "float64", (math.nan, "float64")),
    ],
)
def test_file_nodata(nodatas, dtype, expected):
    nodata, out = file_nodata(nodatas, np.dtype(dtype))
    assert out == np.dtype(expected[1])
    assert nodata is expected[0] or nodata == expected[0] or math.isnan(nodata)


# 2. masked (decoded) input: NaN in memory, the file's nodata in the encoding


@pytest.mark.parametrize("grid", ["source", "reference"])
def test_masked_input_stays_nan_with_its_encoded_nodata(masked_path, fixed, grid, tmp_path):
    masked = rioxarray.open_rasterio(masked_path, masked=True)
    assert masked.dtype == np.float32 and masked.encoding["_FillValue"] == 0
    fit = xr_coregix.register(masked, fixed)
    out = xr_coregix.apply(masked, fit, grid=grid)
    values = out.values
    assert out.dtype == np.float32
    assert int((values == 0).sum()) == 0  # nothing filled with the file's nodata in memory
    # the same pixels as the file's own (uint16, nodata 0) values give: edges and hole
    plain = xr_coregix.apply(rioxarray.open_rasterio(masked_path), fit, grid=grid)
    gap = np.isnan(values)
    np.testing.assert_array_equal(gap, plain.values == 0)
    assert int(gap.sum()) > 1000  # at least the hole
    assert math.isnan(out.rio.nodata) and out.rio.encoded_nodata == 0
    assert out.encoding["_FillValue"] == 0 and "_FillValue" not in out.attrs
    assert out.encoding["dtype"] == "uint16"
    assert abs(float(np.nanmean(values)) / float(masked.mean()) - 1) < 0.01
    assert np.abs(values[~gap] - plain.values[~gap]).max() <= 0.5  # the integer path rounds

    path = xr_coregix.write_geotiff(out, tmp_path / "out.tif")
    raw = rioxarray.open_rasterio(path)
    assert raw.dtype == np.uint16 and raw.rio.nodata == 0
    back = rioxarray.open_rasterio(path, masked=True)
    np.testing.assert_array_equal(np.isnan(back.values), gap)


def test_masked_input_with_an_explicit_nodata(masked_path, fixed):
    masked = rioxarray.open_rasterio(masked_path, masked=True)
    fit = xr_coregix.register(masked, fixed)
    out = xr_coregix.apply(masked, fit, output_nodata=-9999)
    nan_out = xr_coregix.apply(masked, fit)
    assert out.rio.nodata == -9999 and out.rio.encoded_nodata is None
    assert int(np.isnan(out.values).sum()) == 0
    assert int((out.values == -9999).sum()) == int(np.isnan(nan_out.values).sum())


# 3. float16


@pytest.mark.parametrize("chunks", [None, 128])
def test_float16_is_warped_in_float32_and_cast_back(moved, moved_fit, chunks, tmp_path):
    half = moved.astype(np.float16)
    out = xr_coregix.apply(half, moved_fit, chunks=chunks)
    assert out.dtype == np.float16 and math.isnan(out.rio.nodata)
    single = xr_coregix.apply(half.astype(np.float32), moved_fit, chunks=chunks)
    expected = single.values.astype(np.float16)
    np.testing.assert_array_equal(out.values, expected)  # NaN where expected has NaN
    gap = int(np.isnan(expected).sum())
    assert gap > 0 and int(np.isnan(out.values).sum()) == gap
    on_ref = xr_coregix.apply(half, moved_fit, grid="reference", chunks=chunks)
    assert on_ref.dtype == np.float16 and on_ref.shape == (320, 320)

    back = rioxarray.open_rasterio(xr_coregix.write_geotiff(out, tmp_path / "half.tif"))
    assert back.dtype == np.float32  # GDAL has no float16
    np.testing.assert_array_equal(back.values[0], out.values.astype(np.float32))


# 4. values whose gradients leave float32's range


def test_values_near_1e25_register_like_the_original(moved, fixed):
    moving, reference = moved.astype(np.float64), fixed.astype(np.float64)
    fit = xr_coregix.register(moving, reference)
    big = xr_coregix.register(moving * 1e25, reference * 1e25)
    assert max(displacement_error(big, fit, reference.odc.geobox)) < 1e-3
    exact = xr_coregix.register(moving * 2.0**70, reference * 2.0**70)  # 1.2e21: exact scaling
    assert (exact.rotation, exact.translation) == (fit.rotation, fit.translation)


@pytest.mark.parametrize("scale", [2.0**80, 2.0**-100, 1e25, 1e-30])
def test_edge_proxy_scales_with_the_values(moved, scale):
    values = np.nan_to_num(moved.values.astype(np.float64))
    valid = np.isfinite(moved.values)
    proxy, ok = edge_proxy(values, valid)
    scaled, scaled_ok = edge_proxy(values * scale, valid)
    np.testing.assert_array_equal(scaled_ok, ok)
    assert np.isfinite(scaled).all() and int(ok.sum()) > 0
    expected = proxy.astype(np.float64) * scale
    if math.log2(scale).is_integer():  # a power of two: bit for bit
        np.testing.assert_array_equal(scaled, expected.astype(np.float32))
    else:
        # float32 rounding of the scaled values: 1e-7 of values about 1e4 around a gradient
        np.testing.assert_allclose(scaled[ok], expected[ok], rtol=1e-5, atol=1e-2 * scale)


def test_edge_proxy_of_a_non_finite_value_is_invalid_around_it():
    img = np.tile(np.arange(9.0), (9, 1))
    img[4, 4] = np.inf  # marked valid by the caller, as an overflowed fill would be
    proxy, ok = edge_proxy(img, np.ones(img.shape, bool))
    assert np.isfinite(proxy).all()
    assert int(ok.sum()) == 7 * 7 - 9 and not ok[3:6, 3:6].any()
    assert float(proxy[1, 1]) == 1.0


def test_trim_keeps_masked_input_masked(tmp_path, b4):
    """trim_edge_invalid on open_rasterio(masked=True): the trimmed edge is NaN like the holes,
    and the file's nodata stays encoded (no zeros declared as nodata)."""
    values = b4.values.copy()
    values[:, :, :20] = 0  # a nodata collar on the west
    values[:, 100:104, 100:104] = 0  # an interior hole
    path = tmp_path / "collar.tif"
    b4.copy(data=values).rio.write_nodata(0).rio.to_raster(path)
    masked = rioxarray.open_rasterio(path, masked=True)
    trimmed = xr_coregix.trim_edge_invalid(masked, depth=2)
    assert int((trimmed == 0).sum()) == 0
    assert int(trimmed.isnull().sum()) == 384 * 22 + 16  # the collar, 2 more columns, the hole
    assert trimmed.encoding["_FillValue"] == 0 and np.isnan(trimmed.rio.nodata)
