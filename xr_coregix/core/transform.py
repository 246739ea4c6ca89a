"""The fitted rigid transform, in the map coordinates of a CRS.

A :class:`RigidTransform` maps a point of the moving raster's (wrong) georeference to where that
ground point lies in the reference's frame::

    x' = R(rotation) (x - c) + c + t

so the moving raster's corrected pixel-to-map affine is ``fit.affine @ moving_affine``.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass, field, replace
from numbers import Real
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from odc.geo import CRS
from odc.geo.geobox import GeoBox

from ..errors import CoregError
from .precision import coverage_factor

if TYPE_CHECKING:  # pandas and geopandas are imported where a table is made
    import geopandas as gpd
    import pandas as pd

SHIFT_AXES = "(x east, y north)"
"""How every shift in pixels is told: x grows east, y north (not columns and rows)."""


@dataclass(frozen=True)
class StageResult:
    """Outcome of one registration stage (``"translation"`` or ``"rigid"``).

    Attributes
    ----------
    name : str
        The stage's name.
    metric : float
        Final metric value of the stage at its finest level (lower is better for Mattes MI).
    iterations : int
        Optimizer iterations at the finest level.
    stop_condition : str
        SimpleITK's description of why the optimizer stopped.
    rotation : float
        Rotation of the transform after this stage, radians.
    translation : tuple of float
        Translation of the transform after this stage, CRS units.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.register(moving, fixed)
    >>> [stage.name for stage in fit.diagnostics.stages]
    ['translation', 'rigid']
    """

    name: str
    metric: float
    iterations: int
    stop_condition: str
    rotation: float
    translation: tuple[float, float]


@dataclass(frozen=True)
class ChunkResult:
    """One chunk of a chunked fit.

    Attributes
    ----------
    index : int
        Position in the chunk layout (row-major).
    bounds : tuple of float
        The chunk's own area ``(left, bottom, right, top)`` in CRS units (without its overlap).
    status : str
        ``"ok"`` (its anchors went into the global fit), ``"skipped"`` (no solve possible: too
        few valid pixels, no structure, a metric made worse) or ``"rejected"`` (solved, but
        disagreeing with the other chunks: a diverged solve).
    reason : str
        Why it was skipped or rejected; empty when ok.
    rotation : float or None
        The chunk's local rotation, radians.
    translation : tuple of float or None
        The chunk's local translation about the global centre, CRS units.
    anchors : tuple of tuple of float
        ``(x, y, x', y')`` anchor correspondences sampled in the chunk.
    inliers : tuple of bool
        Whether the global fit kept each anchor.
    clear_share : float or None
        Share of the chunk's valid pixels that neither a mask nor the cloud guard excluded, in
        both rasters (the product of the two): 1 for a clear chunk.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> fit = xr_coregix.register(moving, fixed, split_factor=1)
    >>> [(chunk.status, len(chunk.anchors)) for chunk in fit.diagnostics.chunks]
    [('ok', 25), ('ok', 25)]
    """

    index: int
    bounds: tuple[float, float, float, float]
    status: str
    reason: str = ""
    rotation: float | None = None
    translation: tuple[float, float] | None = None
    anchors: tuple[tuple[float, float, float, float], ...] = ()
    inliers: tuple[bool, ...] = ()
    clear_share: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkResult:
        """Rebuild from :func:`dataclasses.asdict` output.

        Examples
        --------
        >>> from dataclasses import asdict
        >>> chunk = ChunkResult(0, (0.0, 0.0, 1.0, 1.0), "skipped", "all cloud")
        >>> ChunkResult.from_dict(asdict(chunk)) == chunk
        True
        """
        return cls(
            **{
                **data,
                "bounds": tuple(data["bounds"]),
                "translation": _tuple_or_none(data.get("translation")),
                "anchors": tuple(tuple(a) for a in data.get("anchors", ())),
                "inliers": tuple(data.get("inliers", ())),
            }
        )


@dataclass(frozen=True)
class Diagnostics:
    """How a fit was made and how well it went.

    Attributes
    ----------
    metric_before, metric_after : float
        The registration metric (Mattes mutual information, negated: lower is better) at the
        identity (in a chunk of a chunked fit: at the whole overlap's coarse shift) and at the
        fitted transform, on the full solve grid.
    valid_fraction : float
        Share of the overlap's solve-grid pixels valid in both rasters.
    solve_resolution : tuple of float
        Pixel size (x, y) of the solve grid in CRS units.
    solve_shape : tuple of int
        Shape (rows, columns) of the solve grid after cropping to the mutual valid area.
    moving_resolution : float or None
        Pixel size (CRS units, the coarser axis) of the moving band as solved: its own, or
        block-averaged to the solve grid when finer. A moving band coarser than the solve grid
        (a 20 m band against a 10 m reference) holds the fit to its own pixels: the precision
        check counts the error bound in the coarser of the two. None for fits saved before it
        existed.
    pixel_size : float
        Pixel size of the reference raster (the coarser of its x and y size), CRS units; the unit
        in which shifts are reported in pixels.
    edge_proxy : bool
        Whether edge-proxy images (gradient magnitude) or raw values were registered.
    stages : tuple of StageResult
        One entry per stage, in the order run.
    split_factor : int
        ``2**split_factor`` chunks were solved (0: one solve over the overlap). For a chunked
        fit, the metrics, valid fraction and solve shape are the median over the good chunks.
    chunks : tuple of ChunkResult
        Per chunk of a chunked fit: its status, local transform and anchors.
    anchor_rmse : float or None
        Root mean square residual of the kept anchors under the global fit, in reference pixels.
    shift_precision : tuple of float or None
        The standard error (one sigma) of the translation, x east and y north, in reference
        pixels: the noise of the metric's sampling, from its curvature about the fit (for a
        chunked fit, carried through the global fit from the chunks', or the spread of the
        chunks when larger; see :mod:`xr_coregix.core.precision`). A precision, not an
        accuracy: what keeps both rasters apart on the ground (clouds displaced between them,
        changed ground, a band's own offset) is not in it. :attr:`error_bound` turns it into
        the bound measured to hold in 9 of 10 benchmark cases. None when the metric was too
        flat to tell, and for fits saved before it existed.
    metric_curved : bool or None
        Whether the metric curves upwards in every direction about a single solve's fit (on
        the grid :attr:`shift_precision` is measured on): False when it is flat or falls away in
        some direction, so the solve settled on no minimum and the fit is not reliable. None
        for a chunked fit, when ITK could not evaluate it, and for fits saved before it existed.
    cloud_excluded : tuple of float or None
        Share of the (moving, fixed) band's valid pixels that masks and the cloud guard kept out
        of the metric (for a chunked fit, over the good chunks' windows).
    layer_shifts : tuple or None
        The layer check of a single solve, run with the cloud guard: how far (reference pixels,
        x east and y north) the fit moves the centre of the solve area when the cloud side of
        the moving band (its brightest 30 %, coldest in a thermal band, grown by
        ``mask_dilation``) is left out, and when that of the fixed band is. The fixed band's is
        measured first, the moving band's (else None) only when that one moves the fit beyond
        :func:`~xr_coregix.core.checks.layer_allowance`. A fit on the ground stays put; one that
        clouds, haze or other bright content lead moves both ways alike, and is not reliable
        (:func:`~xr_coregix.core.checks.layer_problem`). A chunked fit is checked once, on the
        central window of the overlap. None when not measured (no guard, too little left).
    rotation_error : float or None
        The standard error (radians) of a fit's rotation from the spread of local shifts: of
        translations alone refined about a single solve's fit on 3 x 3 windows of its area (a
        chunked fit: of its whole overlap, when that is refined; else its chunks' offsets), see
        :func:`~xr_coregix.core.precision.rotation_error`. None when not measured (the rigid
        stage not run, too few windows).
    local_precision : tuple of float or None
        The standard error (x east, y north; reference pixels) of a single solve's shift from
        the scatter of its windows' local shifts about the rigid motion fitted to them
        (:func:`~xr_coregix.core.precision.local_spread`): where the two rasters' content
        differs (clouds the guard left, a band's own offset) the windows disagree by tenths of
        a pixel, which the metric's curvature (:attr:`shift_precision`) does not see.
        :attr:`error_bound` takes the larger of the two, axis by axis, as a chunked fit's
        precision takes its chunks' spread. None when not measured.
    rotation_left_out : float or None
        The rotation (radians, counter-clockwise) the rigid stage found and the fit left out, as
        it did not stand out of :attr:`rotation_error` by
        :data:`~xr_coregix.core.precision.ROTATION_SIGMAS`: across bands, content placed
        differently in the two bands (clouds, vegetation edges) turns the rigid stage by a few
        hundredths of a degree. The fit keeps the displacement of the area's centre. None when
        the rotation was kept or not tested.
    search_shift : tuple of float or None
        The coarse global search's translation (CRS units, x, y): where the MI stages
        started when the search was trusted (see :mod:`xr_coregix.core.search`).
    search_significance, search_ambiguity : float or None
        Its correlation peak over the surface's spread (a match: 6 or more), and its second
        peak over the first (one match: 0.7 or less).
    search_reach : float or None
        The capture range it searched, CRS units (a quarter of the smaller side of the area).
    reliable : bool
        False when the fit failed a reliability check and was kept anyway
        (``on_failure="warn"``).
    problems : tuple of str
        The checks it failed.

    Examples
    --------
    >>> import xr_coregix
    >>> moving, fixed = xr_coregix.data.example_pair()
    >>> diag = xr_coregix.register(moving, fixed).diagnostics
    >>> diag.metric_after < diag.metric_before, diag.solve_resolution, diag.reliable
    (True, (30.0, 30.0), True)
    """

    metric_before: float
    metric_after: float
    valid_fraction: float
    solve_resolution: tuple[float, float]
    solve_shape: tuple[int, int]
    pixel_size: float
    edge_proxy: bool
    stages: tuple[StageResult, ...] = ()
    moving_resolution: float | None = None
    split_factor: int = 0
    chunks: tuple[ChunkResult, ...] = ()
    anchor_rmse: float | None = None
    shift_precision: tuple[float, float] | None = None
    metric_curved: bool | None = None
    cloud_excluded: tuple[float, float] | None = None
    layer_shifts: tuple[tuple[float, float] | None, tuple[float, float]] | None = None
    rotation_error: float | None = None
    local_precision: tuple[float, float] | None = None
    rotation_left_out: float | None = None
    search_shift: tuple[float, float] | None = None
    search_significance: float | None = None
    search_ambiguity: float | None = None
    search_reach: float | None = None
    reliable: bool = True
    problems: tuple[str, ...] = ()

    @property
    def error_bound(self) -> float | None:
        """The displacement (reference pixels) the fit's error stays within in 9 of 10 cases:
        :func:`~xr_coregix.core.precision.coverage_factor` (2.5 for edge proxies, 4 for raw
        values) times the length of :attr:`standard_error` (:attr:`shift_precision`, no less
        than :attr:`local_precision`), as measured on the pairs of
        ``benchmarks/accuracy.py`` (``docs/reliability.md``); None without a precision.

        Examples
        --------
        >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True,
        ...                    shift_precision=(0.003, 0.004))
        >>> round(diag.error_bound, 6)
        0.0125
        """
        if self.shift_precision is None:
            return None
        return coverage_factor(self.edge_proxy) * math.hypot(*self.standard_error)

    @property
    def standard_error(self) -> tuple[float, float] | None:
        """The standard error (x east, y north; reference pixels) :attr:`error_bound` is made
        of: :attr:`shift_precision`, axis by axis no less than :attr:`local_precision`.

        Examples
        --------
        >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True,
        ...                    shift_precision=(0.003, 0.004), local_precision=(0.01, 0.002))
        >>> diag.standard_error
        (0.01, 0.004)
        """
        if self.shift_precision is None:
            return None
        if self.local_precision is None:
            return self.shift_precision
        x, y = (max(a, b) for a, b in zip(self.shift_precision, self.local_precision, strict=True))
        return x, y

    @property
    def anchors_used(self) -> int:
        """Anchors the global fit kept.

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> diag = xr_coregix.register(moving, fixed, split_factor=1).diagnostics
        >>> diag.anchors_used + diag.anchors_rejected  # 25 a chunk, most of them kept
        50
        """
        return sum(sum(c.inliers) for c in self.chunks)

    @property
    def anchors_rejected(self) -> int:
        """Anchors of good chunks that the global fit trimmed as outliers.

        Examples
        --------
        >>> import xr_coregix
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> diag = xr_coregix.register(moving, fixed, split_factor=1).diagnostics
        >>> diag.anchors_rejected == 50 - diag.anchors_used  # 25 anchors in each of 2 chunks
        True
        """
        return sum(len(c.inliers) - sum(c.inliers) for c in self.chunks)

    def to_dataframe(self, kind: str = "chunks") -> pd.DataFrame:
        """The chunks of a chunked fit (or their anchors) as a table (needs pandas).

        Parameters
        ----------
        kind : {"chunks", "anchors"}
            ``"chunks"``: one row per chunk, indexed by ``chunk`` (its position in the layout):

            - ``left``, ``bottom``, ``right``, ``top``: its own area, CRS units;
            - ``status`` (``"ok"``, ``"skipped"`` or ``"rejected"``) and ``reason`` (empty when
              ok);
            - ``rotation_deg``: its local rotation, degrees counter-clockwise;
            - ``tx``, ``ty``: its local translation about the global centre, CRS units, and
              ``shift_x_px``, ``shift_y_px``: the same in reference pixels (x east, y north);
            - ``clear_share``: the share of its valid pixels that no mask or cloud guard
              excluded;
            - ``anchors``, ``inliers``: its anchors, and how many of them the global fit kept.

            Numbers a chunk does not have (a skipped chunk's shift) are NaN.

            ``"anchors"``: one row per anchor: ``chunk``, ``x``, ``y`` (the anchor in the moving
            georeference), ``x_to``, ``y_to`` (where its chunk moves it), ``dx_px``, ``dy_px``
            (the displacement in reference pixels, x east, y north) and ``inlier``.

        Returns
        -------
        pandas.DataFrame
            Empty (with these columns) for a fit solved in one piece (``split_factor=0``).

        Raises
        ------
        CoregError
            For another ``kind``.

        Examples
        --------
        >>> chunks = (
        ...     ChunkResult(0, (0.0, 0.0, 300.0, 300.0), "ok", rotation=0.0,
        ...                 translation=(30.0, -15.0), anchors=((0.0, 0.0, 30.0, -15.0),),
        ...                 inliers=(True,), clear_share=1.0),
        ...     ChunkResult(1, (300.0, 0.0, 600.0, 300.0), "skipped", "all cloud"),
        ... )
        >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True, chunks=chunks)
        >>> table = diag.to_dataframe()
        >>> table["status"].tolist(), table.loc[0, ["shift_x_px", "shift_y_px"]].tolist()
        (['ok', 'skipped'], [1.0, -0.5])
        >>> anchors = diag.to_dataframe("anchors")
        >>> len(anchors), anchors["dx_px"].tolist(), anchors["inlier"].tolist()
        (1, [1.0], [True])
        """
        if kind == "chunks":
            rows = [_chunk_row(chunk, self.pixel_size) for chunk in self.chunks]
            return _frame(rows, CHUNK_COLUMNS).set_index("chunk")
        if kind == "anchors":
            rows = [
                _anchor_row(chunk.index, anchor, kept, self.pixel_size)
                for chunk in self.chunks
                for anchor, kept in zip(chunk.anchors, _inlier_flags(chunk), strict=True)
            ]
            return _frame(rows, ANCHOR_COLUMNS)
        raise CoregError(f"kind={kind!r}: choose 'chunks' or 'anchors'")

    def to_geodataframe(self, kind: str = "chunks", crs: Any = None) -> gpd.GeoDataFrame:
        """:meth:`to_dataframe` with geometries: chunk footprints or anchor points (geopandas).

        geopandas is not a dependency of xr_coregix: install it to use this method.

        Parameters
        ----------
        kind : {"chunks", "anchors"}
            ``"chunks"``: each chunk's own area as a polygon; ``"anchors"``: each anchor as a
            point where it lies in the moving georeference (its columns say where it moves to).
        crs : CRS-like, optional
            The CRS of the geometries: the fit's, ``fit.crs`` (diagnostics do not hold it).

        Returns
        -------
        geopandas.GeoDataFrame
            The columns of :meth:`to_dataframe` and a ``geometry`` column.

        Raises
        ------
        ImportError
            When geopandas is not installed (the message says so).
        CoregError
            For another ``kind``.

        Examples
        --------
        >>> import xr_coregix  # doctest: +SKIP
        >>> moving, fixed = xr_coregix.data.example_pair()  # doctest: +SKIP
        >>> fit = xr_coregix.register(moving, fixed, split_factor=1)  # doctest: +SKIP
        >>> fit.diagnostics.to_geodataframe(crs=fit.crs).geometry.area.tolist()  # doctest: +SKIP
        [41587200.0, 41587200.0]
        """
        try:
            import geopandas
            import shapely
        except ImportError as err:
            raise ImportError(
                "Diagnostics.to_geodataframe needs geopandas, which xr_coregix does not "
                "install: pip install geopandas (or use to_dataframe(), the same table without "
                "geometries)"
            ) from err
        frame = self.to_dataframe(kind)
        if kind == "chunks":
            geometry = shapely.box(
                frame["left"].to_numpy(float),
                frame["bottom"].to_numpy(float),
                frame["right"].to_numpy(float),
                frame["top"].to_numpy(float),
            )
        else:
            geometry = shapely.points(frame["x"].to_numpy(float), frame["y"].to_numpy(float))
        crs_text = None if crs is None else _crs_text(CRS(crs))
        return geopandas.GeoDataFrame(frame, geometry=list(geometry), crs=crs_text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnostics:
        """Rebuild diagnostics from :meth:`dataclasses.asdict` output (lists become tuples).

        Examples
        --------
        >>> import xr_coregix
        >>> from dataclasses import asdict
        >>> moving, fixed = xr_coregix.data.example_pair()
        >>> diag = xr_coregix.register(moving, fixed).diagnostics
        >>> Diagnostics.from_dict(asdict(diag)) == diag
        True
        """
        stages = tuple(
            StageResult(**{**s, "translation": tuple(s["translation"])}) for s in data["stages"]
        )
        return cls(
            **{
                **data,
                "solve_resolution": tuple(data["solve_resolution"]),
                "solve_shape": tuple(data["solve_shape"]),
                "stages": stages,
                "cloud_excluded": _tuple_or_none(data.get("cloud_excluded")),
                "shift_precision": _tuple_or_none(data.get("shift_precision")),
                "local_precision": _tuple_or_none(data.get("local_precision")),
                "search_shift": _tuple_or_none(data.get("search_shift")),
                "layer_shifts": _pairs_or_none(data.get("layer_shifts")),
                "chunks": tuple(ChunkResult.from_dict(c) for c in data.get("chunks", ())),
                "problems": tuple(data.get("problems", ())),
            }
        )


def _tuple_or_none(value: list | None) -> tuple | None:
    return None if value is None else tuple(value)


def _pairs_or_none(value: list | None) -> tuple | None:
    return None if value is None else tuple(_tuple_or_none(pair) for pair in value)


def _crs_text(crs: CRS | None) -> str | None:
    if crs is None:
        return None
    epsg = crs.epsg
    return f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()


CHUNK_COLUMNS = {"chunk": "int64", "left": "float64", "bottom": "float64", "right": "float64",
                 "top": "float64", "status": "str", "reason": "str", "rotation_deg": "float64",
                 "tx": "float64", "ty": "float64", "shift_x_px": "float64",
                 "shift_y_px": "float64", "clear_share": "float64", "anchors": "int64",
                 "inliers": "int64"}  # fmt: skip
"""The columns of ``Diagnostics.to_dataframe("chunks")`` and their dtypes."""
ANCHOR_COLUMNS = {"chunk": "int64", "x": "float64", "y": "float64", "x_to": "float64",
                  "y_to": "float64", "dx_px": "float64", "dy_px": "float64", "inlier": "bool"}  # fmt: skip
"""The columns of ``Diagnostics.to_dataframe("anchors")`` and their dtypes."""


def _frame(rows: list[tuple], columns: dict[str, str]) -> pd.DataFrame:
    """A DataFrame of ``rows`` with the named columns and dtypes (also when empty)."""
    import pandas as pd

    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame(
        {
            name: pd.Series(list(column), dtype=dtype)
            for (name, dtype), column in zip(columns.items(), values, strict=True)
        }
    )


def _inlier_flags(chunk: ChunkResult) -> tuple[bool, ...]:
    """One flag an anchor (an anchor without one was not kept)."""
    flags = tuple(bool(k) for k in chunk.inliers[: len(chunk.anchors)])
    return flags + (False,) * (len(chunk.anchors) - len(flags))


def _chunk_row(chunk: ChunkResult, pixel_size: float) -> tuple:
    """The values of ``CHUNK_COLUMNS`` for one chunk (NaN for what it lacks)."""
    nan = math.nan
    tx, ty = chunk.translation if chunk.translation is not None else (nan, nan)
    rotation = nan if chunk.rotation is None else math.degrees(chunk.rotation)
    clear = nan if chunk.clear_share is None else float(chunk.clear_share)
    kept = sum(_inlier_flags(chunk))
    return (chunk.index, *map(float, chunk.bounds), chunk.status, chunk.reason, rotation,
            float(tx), float(ty), tx / pixel_size, ty / pixel_size, clear, len(chunk.anchors),
            kept)  # fmt: skip


def _anchor_row(index: int, anchor: tuple[float, ...], kept: bool, pixel_size: float) -> tuple:
    """The values of ``ANCHOR_COLUMNS`` for one anchor."""
    x, y, x_to, y_to = map(float, anchor)
    return (index, x, y, x_to, y_to, (x_to - x) / pixel_size, (y_to - y) / pixel_size, kept)


def shift_text(fit: RigidTransform, pixel_size: float | None = None) -> tuple[str, str | None]:
    """The fit's translation as text, in CRS units and in pixels, x east and y north.

    The one wording of the shift in the text and HTML reprs of a fit and of a series, and in
    the plot titles: the same numbers, signs and axes everywhere.

    Parameters
    ----------
    fit : RigidTransform
        The transform.
    pixel_size : float, optional
        The pixel size to count in, CRS units; default: the reference pixel of the fit's
        diagnostics (no pixel text without either).

    Returns
    -------
    tuple of str
        ``("(tx, ty) CRS units", "(px, py) px")``; the second is None without a pixel size.

    Examples
    --------
    >>> shift_text(RigidTransform(0.0, (45.0, -15.0)), 30.0)
    ('(45.000, -15.000) CRS units', '(1.500, -0.500) px')
    """
    tx, ty = fit.translation
    crs_units = f"({tx:.3f}, {ty:.3f}) CRS units"
    if pixel_size is None and fit.diagnostics is not None:
        pixel_size = fit.diagnostics.pixel_size
    if pixel_size is None:
        return crs_units, None
    px, py = fit.shift_in_pixels(float(pixel_size))
    return crs_units, f"({px:.3f}, {py:.3f}) px"


def rotation_text(fit: RigidTransform) -> str:
    """The fit's rotation as text, degrees (counter-clockwise), as reprs and plots show it.

    Examples
    --------
    >>> rotation_text(RigidTransform(math.radians(-0.25), (0.0, 0.0)))
    '-0.2500 deg'
    """
    return f"{fit.rotation_degrees:.4f} deg"


def metric_text(diag: Diagnostics) -> str:
    """The metric before and after a fit as text, as reprs show it.

    Examples
    --------
    >>> metric_text(Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True))
    '-0.1000 -> -0.5000'
    """
    return f"{diag.metric_before:.4f} -> {diag.metric_after:.4f}"


def precision_text(diag: Diagnostics) -> str | None:
    """The standard error of the shift and the error bound as text, as reprs show them (None
    without a precision).

    Examples
    --------
    >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True,
    ...                    shift_precision=(0.003, 0.004))
    >>> precision_text(diag)
    'shift s.e. (0.0030, 0.0040) px, error < 0.013 px (9 in 10)'
    """
    if diag.shift_precision is None:
        return None
    sx, sy = diag.standard_error
    return f"shift s.e. ({sx:.4f}, {sy:.4f}) px, error < {diag.error_bound:.3f} px (9 in 10)"


def left_out_text(diag: Diagnostics) -> str | None:
    """The rotation a fit left out (:attr:`Diagnostics.rotation_left_out`) and its standard
    error from the local shifts, as reprs show them (None when kept or not tested).

    Examples
    --------
    >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True,
    ...                    rotation_error=0.00075, rotation_left_out=-0.00123)
    >>> left_out_text(diag)
    'rotation -0.0705 deg left out (s.e. 0.0430 deg from the local shifts: not supported)'
    """
    if diag.rotation_left_out is None or diag.rotation_error is None:
        return None
    return (
        f"rotation {math.degrees(diag.rotation_left_out):.4f} deg left out (s.e. "
        f"{math.degrees(diag.rotation_error):.4f} deg from the local shifts: not supported)"
    )


GUARD_HINT_SHARE = 0.25  # masks and the guard keeping out this much may have taken ground
EXCLUDED_SHOWN = 0.005  # reprs name the shares kept out from this much on


def excluded_text(diag: Diagnostics) -> str | None:
    """The shares of each band that masks and the cloud guard kept out, as reprs show them, with
    a word on turning the guard off or narrowing the mask when either reaches
    ``GUARD_HINT_SHARE`` (None when both are under ``EXCLUDED_SHOWN``, or unknown). The shares
    do not say which of the two took the pixels, so the word names both.

    The guard takes a band's bright outliers for cloud; on a clear scene whose bright ground is
    a large share (bare fields beside water and vegetation in a red band) it takes ground, and
    the fit loses accuracy without any check failing.

    Examples
    --------
    >>> diag = Diagnostics(-0.1, -0.5, 0.9, (30.0, 30.0), (20, 20), 30.0, True,
    ...                    cloud_excluded=(0.05, 0.48))
    >>> excluded_text(diag)
    'kept out as cloud: moving 5.0%, fixed 48.0% (if that is clear ground: cloud_guard=False, or a narrower mask)'
    """
    shares = diag.cloud_excluded
    if shares is None or max(shares) < EXCLUDED_SHOWN:
        return None
    text = f"kept out as cloud: moving {shares[0]:.1%}, fixed {shares[1]:.1%}"
    if max(shares) >= GUARD_HINT_SHARE:
        text += " (if that is clear ground: cloud_guard=False, or a narrower mask)"
    return text


def chunks_text(diag: Diagnostics) -> str | None:
    """A chunked fit's chunks and anchors as text (None for a fit solved in one piece)."""
    if not diag.chunks:
        return None
    good = sum(c.status == "ok" for c in diag.chunks)
    rmse = "n/a" if diag.anchor_rmse is None else f"{diag.anchor_rmse:.3f}"
    return (
        f"{good}/{len(diag.chunks)} chunks, {diag.anchors_used} anchors "
        f"(rmse {rmse} px, {diag.anchors_rejected} rejected)"
    )


@dataclass(frozen=True, eq=False)  # equality: __eq__ below
class RigidTransform:
    """A rotation about a centre followed by a translation, in CRS map coordinates.

    Parameters
    ----------
    rotation : float
        Counter-clockwise rotation in map coordinates, radians.
    translation : tuple of float
        ``(tx, ty)`` in CRS units.
    center : tuple of float
        ``(cx, cy)``, the point the rotation turns about, in CRS units.
    crs : odc.geo.CRS or None
        The CRS whose map coordinates the transform acts on.
    diagnostics : Diagnostics or None
        How the fit was made; not part of equality.
    reference_geobox : GeoBox or None
        Keyword only: the grid of the reference raster the fit was made against (``register``
        sets it), onto which ``apply(grid="reference")`` warps; in the fit's CRS (taken from
        it when ``crs`` is None).
    reference_nodata : float or None
        Keyword only: the reference raster's nodata value, the third choice of output nodata
        (after an explicit value and the source's).

    Raises
    ------
    CoregError
        When the rotation is not a finite number, or the translation or centre not two finite
        numbers, or the reference grid is not a GeoBox in the fit's CRS (however the transform
        is made: constructor, ``from_dict``/``from_json``, ``dataclasses.replace``), naming the
        field and what it was given.

    Notes
    -----
    ``fit(x, y)`` maps a point of the moving raster's georeference to where that ground point lies
    in the reference's frame: ``x' = R (x - c) + c + t``. The moving raster's corrected affine is
    ``fit.affine @ moving_affine``.

    Two transforms are equal when every field but the diagnostics is: the same mapping made
    against another reference grid (or nodata) is another fit, since ``apply`` gives another
    raster. A NaN reference nodata equals a NaN.

    Examples
    --------
    >>> import math
    >>> fit = RigidTransform(rotation=math.radians(90), translation=(1.0, 0.0), center=(0.0, 0.0))
    >>> [round(float(v), 6) for v in fit(1.0, 0.0)]
    [1.0, 1.0]
    >>> from affine import Affine
    >>> grid = GeoBox((10, 10), Affine(30, 0, 0, 0, -30, 300), "EPSG:32616")
    >>> on_grid = RigidTransform(0.0, (30.0, 0.0), reference_geobox=grid)
    >>> on_grid.crs.epsg, on_grid == RigidTransform(0.0, (30.0, 0.0), crs="EPSG:32616")
    (32616, False)
    """

    rotation: float
    translation: tuple[float, float]
    center: tuple[float, float] = (0.0, 0.0)
    crs: CRS | None = None
    diagnostics: Diagnostics | None = field(default=None, compare=False, repr=False)
    reference_geobox: GeoBox | None = field(default=None, kw_only=True, repr=False)
    reference_nodata: float | None = field(default=None, kw_only=True, repr=False)

    def __post_init__(self) -> None:
        # every way to make one (constructor, from_dict/from_json, from_matrix, replace) passes
        # here: a NaN, an infinity or a missing coordinate never reaches a warp
        object.__setattr__(self, "rotation", _finite(self.rotation, "rotation", "radians"))
        object.__setattr__(self, "translation", _pair(self.translation, "translation", "tx, ty"))
        object.__setattr__(self, "center", _pair(self.center, "center", "cx, cy"))
        if self.crs is not None and not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS(self.crs))
        grid = self.reference_geobox
        if grid is not None:
            if not isinstance(grid, GeoBox):
                raise CoregError(
                    f"RigidTransform reference_geobox is a {type(grid).__name__}: must be a "
                    "GeoBox (the reference's grid, fixed.odc.geobox) or None"
                )
            if self.crs is None:
                object.__setattr__(self, "crs", grid.crs)
            elif grid.crs != self.crs:
                raise CoregError(
                    f"RigidTransform reference_geobox is in {_crs_text(grid.crs)} but crs is "
                    f"{_crs_text(self.crs)}: a fit and its reference share one CRS"
                )
        nodata = self.reference_nodata
        if nodata is not None:
            if not isinstance(nodata, Real) or isinstance(nodata, (bool, np.bool_)):
                raise CoregError(
                    f"RigidTransform reference_nodata={_shown(nodata)}: must be a number or None"
                )
            object.__setattr__(self, "reference_nodata", float(nodata))

    def _compared(self) -> tuple:
        """What equality sees: every field but the diagnostics (a NaN nodata as one value,
        since NaN != NaN)."""
        nodata = self.reference_nodata
        nodata_key = "nan" if nodata is not None and math.isnan(nodata) else nodata
        return (self.rotation, self.translation, self.center, self.crs, self.reference_geobox,
                nodata_key)  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RigidTransform):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        # the numbers alone: odc-geo hashes equal CRSs (EPSG code, WKT) differently
        return hash((self.rotation, self.translation, self.center))

    # ----------------------------------------------------------------- construction
    @classmethod
    def identity(cls, center: tuple[float, float] = (0.0, 0.0), crs: Any = None) -> RigidTransform:
        """The transform that moves nothing.

        Examples
        --------
        >>> RigidTransform.identity().translation
        (0.0, 0.0)
        """
        return cls(0.0, (0.0, 0.0), center, crs)

    @classmethod
    def from_matrix(
        cls, matrix: np.ndarray, center: tuple[float, float] = (0.0, 0.0), crs: Any = None
    ) -> RigidTransform:
        """Build from a 3x3 (or 2x3) homogeneous matrix whose linear part is a rotation.

        Parameters
        ----------
        matrix : numpy.ndarray
            ``[[cos, -sin, bx], [sin, cos, by]]`` (a third row ``[0, 0, 1]`` is optional).
        center : tuple of float
            Centre to express the rotation about; the mapping is the same for any centre.
        crs : CRS-like, optional
            The CRS of the map coordinates.

        Examples
        --------
        >>> RigidTransform.from_matrix([[1, 0, 5.0], [0, 1, -2.0]]).translation
        (5.0, -2.0)
        """
        m = np.asarray(matrix, dtype=float)
        rotation = math.atan2(m[1, 0], m[0, 0])
        rot = _rotation_matrix(rotation)
        c = np.asarray(center, dtype=float)
        t = m[:2, 2] - c + rot @ c
        return cls(rotation, (t[0], t[1]), (c[0], c[1]), crs)

    # ----------------------------------------------------------------- derived
    @property
    def rotation_degrees(self) -> float:
        """Rotation in degrees, counter-clockwise in map coordinates.

        Examples
        --------
        >>> round(RigidTransform(0.5 * 3.141592653589793, (0, 0)).rotation_degrees, 6)
        90.0
        """
        return math.degrees(self.rotation)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 homogeneous matrix of the mapping.

        Examples
        --------
        >>> RigidTransform(0.0, (2.0, 3.0)).matrix[:2, 2].tolist()
        [2.0, 3.0]
        """
        rot = _rotation_matrix(self.rotation)
        c = np.asarray(self.center)
        offset = c - rot @ c + np.asarray(self.translation)
        out = np.eye(3)
        out[:2, :2] = rot
        out[:2, 2] = offset
        return out

    @property
    def affine(self) -> Affine:
        """The mapping as an :class:`affine.Affine`.

        Examples
        --------
        >>> RigidTransform(0.0, (2.0, 3.0)).affine.c
        2.0
        """
        m = self.matrix
        return Affine(m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])

    def __call__(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Map points ``(x, y)`` (scalars or arrays) of the moving georeference to the reference.

        Examples
        --------
        >>> [float(v) for v in RigidTransform(0.0, (2.0, 3.0))(10.0, 20.0)]
        [12.0, 23.0]
        """
        m = self.matrix
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        return m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]

    def inverse(self) -> RigidTransform:
        """The transform mapping the reference frame back to the moving georeference.

        Examples
        --------
        >>> RigidTransform(0.0, (2.0, 3.0)).inverse().translation
        (-2.0, -3.0)
        """
        return RigidTransform.from_matrix(np.linalg.inv(self.matrix), self.center, self.crs)

    def compose(self, other: RigidTransform) -> RigidTransform:
        """``self ∘ other``: apply ``other`` first, then ``self``; the centre of ``self`` is kept.

        Examples
        --------
        >>> a, b = RigidTransform(0.0, (1.0, 0.0)), RigidTransform(0.0, (0.0, 2.0))
        >>> a.compose(b).translation
        (1.0, 2.0)
        """
        return RigidTransform.from_matrix(self.matrix @ other.matrix, self.center, self.crs)

    def without_rotation(self) -> RigidTransform:
        """The translation that still takes the moving point this transform sends to its centre
        there: the fit of an area whose rotation is left out
        (:attr:`Diagnostics.rotation_left_out`). It keeps the diagnostics.

        Turning it about the centre by the rotation left out gives this transform back.

        Examples
        --------
        >>> fit = RigidTransform(0.01, (3.0, -2.0), (100.0, 50.0))
        >>> moved = fit.without_rotation()
        >>> moved.rotation, [round(float(v), 9) for v in moved(*fit.inverse()(100.0, 50.0))]
        (0.0, [100.0, 50.0])
        >>> turn = RigidTransform(0.01, (0.0, 0.0), (100.0, 50.0))
        >>> bool(np.allclose(turn.compose(moved).matrix, fit.matrix))
        True
        """
        back = _rotation_matrix(-self.rotation) @ np.asarray(self.translation, dtype=float)
        return replace(self, rotation=0.0, translation=(float(back[0]), float(back[1])))

    def shift_in_pixels(self, grid: GeoBox | Affine | float) -> tuple[float, float]:
        """The translation in pixels of ``grid``, as ``(columns, rows)``.

        Parameters
        ----------
        grid : GeoBox, Affine or float
            A GeoBox or pixel-to-map affine (rows grow southwards on a north-up grid, so a
            northward shift is a negative row count), or a plain pixel size in CRS units
            (then the result is ``(tx, ty) / size``).

        Examples
        --------
        >>> from affine import Affine
        >>> RigidTransform(0.0, (60.0, 90.0)).shift_in_pixels(Affine(30, 0, 0, 0, -30, 0))
        (2.0, -3.0)
        """
        if isinstance(grid, GeoBox):
            grid = grid.affine
        if isinstance(grid, Affine):
            lin = np.array([[grid.a, grid.b], [grid.d, grid.e]])
            cols, rows = np.linalg.solve(lin, np.asarray(self.translation))
            return float(cols), float(rows)
        size = float(grid)
        return self.translation[0] / size, self.translation[1] / size

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the transform, its reference and its diagnostics.

        The reference is ``{"shape": [rows, columns], "transform": [a, b, c, d, e, f],
        "nodata": value}`` (its grid's pixel-to-map affine; the CRS is the fit's), or None.

        Examples
        --------
        >>> RigidTransform(0.0, (1.0, 2.0), crs="EPSG:32616").to_dict()["crs"]
        'EPSG:32616'
        >>> from affine import Affine
        >>> grid = GeoBox((10, 20), Affine(30, 0, 0, 0, -30, 300), "EPSG:32616")
        >>> RigidTransform(0.0, (1.0, 2.0), reference_geobox=grid).to_dict()["reference"]
        {'shape': [10, 20], 'transform': [30.0, 0.0, 0.0, 0.0, -30.0, 300.0], 'nodata': None}
        """
        return {
            "type": "rigid",
            "rotation": self.rotation,
            "translation": list(self.translation),
            "center": list(self.center),
            "crs": _crs_text(self.crs),
            "reference": self._reference_dict(),
            "diagnostics": None if self.diagnostics is None else asdict(self.diagnostics),
        }

    def _reference_dict(self) -> dict[str, Any] | None:
        grid = self.reference_geobox
        if grid is None:
            return None if self.reference_nodata is None else {"nodata": self.reference_nodata}
        return {
            "shape": [int(n) for n in grid.shape],
            "transform": [float(v) for v in tuple(grid.affine)[:6]],
            "nodata": self.reference_nodata,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RigidTransform:
        """Rebuild a transform from :meth:`to_dict` output.

        Raises
        ------
        CoregError
            When ``data`` is not such a dict: a missing field, another ``type``, a rotation,
            translation or centre that is not finite or not of two numbers (the error names the
            field and what it holds), or diagnostics that cannot be read.

        Examples
        --------
        >>> fit = RigidTransform(0.1, (1.0, 2.0))
        >>> RigidTransform.from_dict(fit.to_dict()) == fit
        True
        >>> RigidTransform.from_dict({"rotation": float("nan"), "translation": [0, 0],
        ...                           "center": [0, 0]})
        Traceback (most recent call last):
        ...
        xr_coregix.errors.CoregError: RigidTransform rotation=nan: must be a finite number (radians)
        """
        if not isinstance(data, dict):
            raise CoregError(
                f"RigidTransform.from_dict needs a dict (to_dict() output), not a "
                f"{type(data).__name__}"
            )
        kind = data.get("type", "rigid")
        if kind != "rigid":
            raise CoregError(f"RigidTransform.from_dict: type={kind!r}, expected 'rigid'")
        missing = [key for key in ("rotation", "translation", "center") if key not in data]
        if missing:
            raise CoregError(
                f"RigidTransform.from_dict: no {', '.join(map(repr, missing))} field in "
                f"{sorted(map(str, data))} (expected to_dict() output)"
            )
        diag, reference = _reference_out_of(data.get("diagnostics"), data.get("reference"))
        try:
            diagnostics = None if diag is None else Diagnostics.from_dict(diag)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise CoregError(
                f"RigidTransform.from_dict: the diagnostics cannot be read ({type(err).__name__}: "
                f"{err}); drop them (diagnostics=None) to keep the transform alone"
            ) from err
        crs = data.get("crs")
        try:
            grid, nodata = None, reference.get("nodata")
            if "shape" in reference or "transform" in reference:
                shape = tuple(int(n) for n in reference["shape"])
                grid = GeoBox(shape, Affine(*map(float, reference["transform"])), crs)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise CoregError(
                f"RigidTransform.from_dict: the reference cannot be read ({type(err).__name__}: "
                f"{err}); expected {{'shape': [rows, columns], 'transform': [a, b, c, d, e, f], "
                "'nodata': value}"
            ) from err
        return cls(
            rotation=data["rotation"],
            translation=data["translation"],
            center=data["center"],
            crs=crs,
            diagnostics=diagnostics,
            reference_geobox=grid,
            reference_nodata=nodata,
        )

    def to_json(self, **kwargs: Any) -> str:
        """The transform as JSON text (keyword arguments go to :func:`json.dumps`).

        Examples
        --------
        >>> RigidTransform(0.0, (1.0, 2.0)).to_json()[:30]
        '{"type": "rigid", "rotation": '
        """
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> RigidTransform:
        """Rebuild a transform from :meth:`to_json` output.

        Examples
        --------
        >>> fit = RigidTransform(0.1, (1.0, 2.0))
        >>> RigidTransform.from_json(fit.to_json()) == fit
        True
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise CoregError(f"RigidTransform.from_json: the text is not JSON ({err})") from err
        return cls.from_dict(data)

    def with_diagnostics(self, diagnostics: Diagnostics | None) -> RigidTransform:
        """A copy carrying ``diagnostics``.

        Examples
        --------
        >>> RigidTransform.identity().with_diagnostics(None).diagnostics is None
        True
        """
        return replace(self, diagnostics=diagnostics)

    def __repr__(self) -> str:
        crs_units, pixels = shift_text(self)
        shift = f"shift={crs_units}" + ("" if pixels is None else f", {pixels}")
        parts = [f"{shift} {SHIFT_AXES}", f"rotation={rotation_text(self)}"]
        parts.append(f"center=({self.center[0]:.2f}, {self.center[1]:.2f})")
        if self.crs is not None:
            parts.append(f"crs={_crs_text(self.crs)!s:.40}")
        diag = self.diagnostics
        if diag is not None:
            parts.append(f"metric {metric_text(diag)}, valid {diag.valid_fraction:.1%}")
            precision = precision_text(diag)
            if precision is not None:
                parts.append(precision)
            left_out = left_out_text(diag)
            if left_out is not None:
                parts.append(left_out)
            excluded = excluded_text(diag)
            if excluded is not None:
                parts.append(excluded)
            if not diag.reliable:
                parts.append("UNRELIABLE: " + "; ".join(diag.problems))
            chunks = chunks_text(diag)
            if chunks is not None:
                parts.append(chunks)
        return f"RigidTransform({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """The fit as an HTML table (Jupyter): the numbers and wording of the text repr."""
        crs_units, pixels = shift_text(self)
        rows = [("shift", f"{crs_units} {SHIFT_AXES}")]
        if pixels is not None:
            rows.append(("shift in reference pixels", f"{pixels} {SHIFT_AXES}"))
        rows.append(("rotation", f"{rotation_text(self)} (counter-clockwise)"))
        rows.append(("center", f"({self.center[0]:.2f}, {self.center[1]:.2f}) CRS units"))
        rows.append(("crs", "none" if self.crs is None else str(_crs_text(self.crs))))
        diag = self.diagnostics
        if diag is not None:
            rows.append(("metric (lower is better)", metric_text(diag)))
            rows.append(("valid", f"{diag.valid_fraction:.1%}"))
            precision = precision_text(diag)
            if precision is not None:
                rows.append(("precision", f"{precision} {SHIFT_AXES}"))
            left_out = left_out_text(diag)
            if left_out is not None:
                rows.append(("left out", left_out))
            excluded = excluded_text(diag)
            if excluded is not None:
                rows.append(("kept out", excluded.removeprefix("kept out as cloud: ")))
            rows.append(
                ("reliable", "yes" if diag.reliable else "UNRELIABLE: " + "; ".join(diag.problems))
            )
            chunks = chunks_text(diag)
            if chunks is not None:
                rows.append(("chunks", chunks))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
            for label, text in rows
        )
        return f"<table class='xr-coregix'><caption>RigidTransform</caption>{body}</table>"


def _shown(value: Any) -> str:
    """``value`` for an error message: numbers as floats (``nan``, ``inf``), sequences as given."""
    if isinstance(value, (list, tuple, np.ndarray)):
        inner = ", ".join(_shown(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_)):
        return repr(float(value))
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite(value: Any, field: str, unit: str) -> float:
    """``value`` as a finite float, or a :class:`CoregError` naming ``field``."""
    number = math.nan
    if not isinstance(value, (str, bytes, bool, np.bool_)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    if not math.isfinite(number):
        raise CoregError(
            f"RigidTransform {field}={_shown(value)}: must be a finite number ({unit})"
        )
    return number


def _pair(value: Any, field: str, names: str) -> tuple[float, float]:
    """``value`` as two finite floats, or a :class:`CoregError` naming ``field``."""
    count = ""
    if not isinstance(value, (str, bytes, dict)) and hasattr(value, "__len__"):
        if len(value) == 2:
            try:
                return (
                    _finite(value[0], field, "CRS units"),
                    _finite(value[1], field, "CRS units"),
                )
            except CoregError:
                pass
        else:
            count = f", not {len(value)} value" + ("" if len(value) == 1 else "s")
    raise CoregError(
        f"RigidTransform {field}={_shown(value)}: must be two finite numbers ({names}) in CRS "
        f"units{count}"
    )


def _rotation_matrix(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def displacement_error(
    fit: RigidTransform, truth: RigidTransform, grid: GeoBox, samples: int = 64
) -> tuple[float, float]:
    """Mean and max distance between two transforms' images of ``grid``'s area, in pixels.

    Points are a ``samples x samples`` lattice spanning the grid's pixel centres; distances are
    divided by the grid's (larger) pixel size.

    Parameters
    ----------
    fit, truth : RigidTransform
        The transforms to compare.
    grid : GeoBox
        The area over which to compare them, and the pixel size to report in.
    samples : int
        Lattice points along each axis.

    Returns
    -------
    tuple of float
        ``(mean, max)`` residual in pixels.

    Examples
    --------
    >>> from affine import Affine
    >>> grid = GeoBox((100, 100), Affine(30, 0, 0, 0, -30, 3000), "EPSG:32616")
    >>> shifted = RigidTransform(0.0, (15.0, 0.0))
    >>> [round(v, 6) for v in displacement_error(shifted, RigidTransform.identity(), grid)]
    [0.5, 0.5]
    """
    rows, cols = grid.shape
    rr, cc = np.meshgrid(
        np.linspace(0.5, rows - 0.5, samples), np.linspace(0.5, cols - 0.5, samples), indexing="ij"
    )
    aff = grid.affine
    x = aff.a * cc + aff.b * rr + aff.c
    y = aff.d * cc + aff.e * rr + aff.f
    fx, fy = fit(x, y)
    tx, ty = truth(x, y)
    dist = np.hypot(fx - tx, fy - ty) / max(abs(grid.resolution.x), abs(grid.resolution.y))
    return float(dist.mean()), float(dist.max())


_OLD_REFERENCE = {"reference_shape": "shape", "reference_transform": "transform",
                  "reference_nodata": "nodata"}  # fmt: skip


def _reference_out_of(diag: Any, reference: Any) -> tuple[Any, dict]:
    """The diagnostics and the reference of a fit's dict; a fit saved by xr_coregix before the
    reference grid became a field of the transform (0.1.0 until November 2026) kept it in its
    diagnostics, as ``reference_shape``, ``reference_transform`` and ``reference_nodata``."""
    if not isinstance(diag, dict) or not _OLD_REFERENCE.keys() & diag.keys():
        return diag, reference or {}
    old = {new: diag[key] for key, new in _OLD_REFERENCE.items() if diag.get(key) is not None}
    diag = {key: value for key, value in diag.items() if key not in _OLD_REFERENCE}
    return diag, reference or old
