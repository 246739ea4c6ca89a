"""Logging and progress of :func:`~xr_coregix.align_image_pair` and the command lines.

- The ``xr_coregix`` logger hierarchy (``logging.getLogger("xr_coregix.pipeline")``, ...), with a
  :class:`logging.NullHandler` on the package logger: the library logs, the application decides
  where it goes. :func:`console_logging` sends it to standard error for a while
  (``--log-to-console``, ``log_to_console=True``).
- :func:`stage`: one step of a pipeline, timed and logged once when it is done, optionally with a
  :class:`ProgressBar`.
- :class:`ProgressBar`: one labelled bar for a step, however many dask computes the step runs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TextIO

from dask.callbacks import Callback
from dask.utils import key_split

PACKAGE = "xr_coregix"
logging.getLogger(PACKAGE).addHandler(logging.NullHandler())

PROGRESS_AFTER_SECONDS = 0.5  # on a terminal, a bar is first drawn after this long
PROGRESS_CAP = 0.99  # a step's bar shows 100 % only when the step is done
LOG_FORMAT = "%(asctime)s {prog}: %(message)s"
LOG_DATE_FORMAT = "%H:%M:%S"


def seconds(elapsed: float) -> str:
    """A duration as the logs and bars tell it.

    Examples
    --------
    >>> seconds(1.23456), seconds(75)
    ('1.23 s', '75.00 s')
    """
    return f"{elapsed:.2f} s"


class _ConsoleHandler(logging.StreamHandler):
    """The handler :func:`console_logging` adds (told apart from the application's own)."""

    def emit(self, record: logging.LogRecord) -> None:
        with own_line():
            super().emit(record)


_ACTIVE: list[ProgressBar] = []  # the bars being shown


@contextlib.contextmanager
def own_line() -> Iterator[None]:
    r"""Within the block, write something else on the progress bars' stream (a warning, a log
    message): a bar being redrawn on a terminal ends its line first, so that the text starts a
    line of its own, and is not redrawn until the block ends; it then goes on below the text.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with ProgressBar("waiting", out, terminal=True) as bar:
    ...     bar.draw()
    ...     with own_line():
    ...         _ = out.write("a warning\n")
    >>> [line.split("[")[0].strip() for line in out.getvalue().split("\n")]
    ['waiting', 'a warning', 'waiting', '']
    """
    with contextlib.ExitStack() as held:
        for bar in _ACTIVE:
            held.enter_context(bar._write_lock)
            bar._break_line()
        yield


@contextlib.contextmanager
def console_logging(
    enabled: bool = True, prog: str = PACKAGE, stream: TextIO | None = None
) -> Iterator[None]:
    """Within the block, log the ``xr_coregix`` loggers' INFO messages (and above) to ``stream``.

    Parameters
    ----------
    enabled : bool
        False: do nothing (the block runs as it is).
    prog : str
        The name each line starts with, after the time (``12:00:01 align-image-pair: ...``).
    stream : file, optional
        Default: ``sys.stderr`` as it is on entering the block.

    Notes
    -----
    Nested blocks log each message once: an inner block does nothing while an outer one is on.
    The package logger's level is lowered to INFO for the block (if it was above) and restored.
    Messages still propagate to the application's handlers.

    Examples
    --------
    >>> import io, logging
    >>> out = io.StringIO()
    >>> with console_logging(prog="demo", stream=out):
    ...     logging.getLogger("xr_coregix.demo").info("hello")
    >>> out.getvalue().split(" ", 1)[1]
    'demo: hello\\n'
    """
    logger = logging.getLogger(PACKAGE)
    if not enabled or any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        yield
        return
    handler = _ConsoleHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT.format(prog=prog), LOG_DATE_FORMAT))
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@dataclass
class StageRecord:
    """What :func:`stage` logs when its step is done: ``details``, set by the step."""

    label: str
    details: str = ""
    elapsed: float | None = None


@contextlib.contextmanager
def stage(
    label: str,
    logger: logging.Logger,
    *,
    start: str | None = None,
    progress: bool = False,
    out: TextIO | None = None,
) -> Iterator[StageRecord]:
    """Time a step and log it once when it is done: ``<label> done in 1.23 s: <details>``.

    Parameters
    ----------
    label : str
        The step's name, in the log and on its progress bar (``"registering"``).
    logger : logging.Logger
        Where to log (INFO).
    start : str, optional
        Also log ``<label>: <start>`` when the step starts.
    progress : bool
        Show a :class:`ProgressBar` labelled ``label`` while the step runs.
    out : file, optional
        The bar's stream; default ``sys.stderr``.

    Yields
    ------
    StageRecord
        Set its ``details`` to what the done line should say. A step that raises logs nothing.

    Examples
    --------
    >>> import io, logging
    >>> out = io.StringIO()
    >>> with console_logging(prog="demo", stream=out):
    ...     with stage("counting", logging.getLogger("xr_coregix.demo")) as step:
    ...         step.details = "3 sheep"
    >>> out.getvalue().split(" ", 1)[1].replace(seconds(step.elapsed), "T")
    'demo: counting done in T: 3 sheep\\n'
    """
    record = StageRecord(label)
    if start:
        logger.info("%s: %s", label, start)
    began = time.perf_counter()
    with ProgressBar(label, out) if progress else contextlib.nullcontext():
        yield record
    record.elapsed = time.perf_counter() - began
    details = f": {record.details}" if record.details else ""
    logger.info("%s done in %s%s", label, seconds(record.elapsed), details)


class ProgressBar(Callback):
    """One labelled progress bar for a step that may run several dask computes.

    The share of the dask work done, over every compute started within the block (tasks weighed
    by their time, :meth:`fraction`; on dask's local schedulers: threads, processes,
    synchronous; a ``dask.distributed`` cluster reports to its own dashboard, and the bar then
    shows only the time), and the time since the block began, on one line of ``out`` (standard
    error by default)::

        registering        [##############                ]  47%    3.2 s

    The share stays below 100 % while the block runs and reaches 100 % once, when the block
    ends without error. It tells the work known so far: a later compute of the step adds work
    (the share then drops back), and work outside dask (a one-piece SimpleITK solve) has no
    tasks to count: the time still runs. On a terminal the line is redrawn in place from
    ``PROGRESS_AFTER_SECONDS`` on; elsewhere (a file, a pipe, a CI log) only two lines are
    written: ``<label> ...`` when the block begins and the 100 % line when it ends.

    Parameters
    ----------
    label : str
        The step's name.
    out : file, optional
        Default: ``sys.stderr`` as it is on entering the block.
    width : int
        Characters of the bar.
    interval : float
        Seconds between redraws on a terminal.
    terminal : bool, optional
        Whether to redraw in place; default: whether ``out`` is a terminal.

    Examples
    --------
    >>> import io, dask.array as da
    >>> out = io.StringIO()
    >>> with ProgressBar("summing", out) as bar:
    ...     total = da.ones(100, chunks=10).sum().compute() + da.ones(5, chunks=1).sum().compute()
    >>> out.getvalue().splitlines()[0], bar.done == bar.total > 0
    ('summing ...', True)
    >>> out.getvalue().splitlines()[1].split()[:3]
    ['summing', '[##############################]', '100%']
    """

    def __init__(
        self,
        label: str,
        out: TextIO | None = None,
        *,
        width: int = 30,
        interval: float = 0.1,
        terminal: bool | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        self.width = width
        self.interval = interval
        self.total = 0  # tasks of the computes started so far
        self.done = 0  # tasks finished
        self._pending: Counter[str] = Counter()  # tasks not finished, by key prefix
        self._started: dict[Any, float] = {}  # running task -> when it started
        self._spent: dict[str, list[float]] = {}  # key prefix -> [seconds, tasks] finished
        self._done_time = 0.0
        self.elapsed = 0.0
        self._out = out
        self._terminal = terminal
        self._lock = threading.Lock()  # the counts
        self._write_lock = threading.Lock()  # the line
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False  # the bar is on the current line of a terminal
        self._began = 0.0

    # dask's callbacks (local schedulers; called from the thread that runs the compute)
    def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
        keys = [*state["ready"], *state["waiting"]]
        with self._lock:
            self.total += len(keys)
            self._pending.update(key_split(key) for key in keys)

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        with self._lock:
            self._started[key] = time.perf_counter()

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        now = time.perf_counter()
        prefix = key_split(key)
        with self._lock:
            took = now - self._started.pop(key, now)
            self.done += 1
            self._pending[prefix] -= 1
            spent = self._spent.setdefault(prefix, [0.0, 0])
            spent[0] += took
            spent[1] += 1
            self._done_time += took

    def fraction(self) -> float:
        """The share of the work seen so far that is done, below 100 % (``PROGRESS_CAP``).

        Tasks are weighed by their time: each by the mean time of the finished tasks of its
        kind (its key's prefix: ``solve_chunk``, ``open_rasterio``, ...), a kind not seen
        finishing yet by the mean of all finished tasks; by count until some time is spent.
        """
        with self._lock:
            if not self.total:
                return 0.0
            if self._done_time <= 0:
                return min(self.done / self.total, PROGRESS_CAP)
            mean = self._done_time / self.done
            left = sum(
                n * (self._spent[p][0] / self._spent[p][1] if p in self._spent else mean)
                for p, n in self._pending.items()
                if n > 0
            )
            return min(self._done_time / (self._done_time + left), PROGRESS_CAP)

    def line(self, fraction: float, elapsed: float) -> str:
        """The bar's text (no line end)."""
        filled = "#" * int(self.width * fraction)
        label = f"{self.label:<18}"
        return f"{label} [{filled:<{self.width}}] {int(100 * fraction):3d}% {elapsed:6.1f} s"

    def __enter__(self) -> Self:
        self._file = sys.stderr if self._out is None else self._out
        terminal = self._terminal
        if terminal is None:
            try:
                terminal = bool(self._file.isatty())
            except (AttributeError, ValueError):
                terminal = False
        self._is_terminal = terminal
        self._began = time.perf_counter()
        if terminal:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._redraw, name=f"xr_coregix progress: {self.label}", daemon=True
            )
            self._thread.start()
        else:
            self._write(f"{self.label} ...\n")
        _ACTIVE.append(self)
        super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        _ACTIVE.remove(self)
        self.elapsed = time.perf_counter() - self._began
        with self._write_lock:
            if exc_type is None:
                start = "\r" if self._is_terminal else ""
                self._write(f"{start}{self.line(1.0, self.elapsed)}\n")
                self._drawn = False
            else:
                self._break_line()  # what reports the error starts a line of its own

    def draw(self) -> None:
        """Redraw the bar in place (on a terminal; the redrawing thread calls it)."""
        line = self.line(self.fraction(), time.perf_counter() - self._began)
        with self._write_lock:
            self._write(f"\r{line}")
            self._drawn = True

    def _break_line(self) -> None:
        """End the bar's line if it is drawn (with ``_write_lock`` held)."""
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _redraw(self) -> None:
        while not self._stop.wait(self.interval):
            if time.perf_counter() - self._began >= PROGRESS_AFTER_SECONDS:
                self.draw()

    def _write(self, text: str) -> None:
        with contextlib.suppress(ValueError, OSError):  # a closed stream
            self._file.write(text)
            self._file.flush()
