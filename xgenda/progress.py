"""Progress bars for long work, switched on and off in one place.

Long library calls show a live bar with an ETA (``tqdm.auto``: a text bar on a terminal,
a widget in Jupyter) when asked to:

>>> with xgenda.progress.progress_bars():                       # doctest: +SKIP
...     truth = xgenda.datasets.toy_ocean(days=30)              # a bar over the days
...     obs = xgenda.osse.observe(truth)                        # a bar over the instruments
...     ens = template.genda.assimilate(prior, obs).compute()   # a bar over the dask tasks

Inside :func:`progress_bars` every dask computation on the local schedulers
(threads, processes, synchronous) shows a bar of its tasks, and the functions that take
a ``progress=`` argument (:func:`xgenda.datasets.toy_ocean`, :func:`xgenda.osse.observe`,
:func:`xgenda.train`) follow the context when that argument is left at ``None``;
``progress_bars(False)`` silences them (training included). An explicit ``progress=``
argument always wins. :func:`xgenda.calibrate` computes one assimilation per
configuration, so inside the context each configuration shows its own bar. On a ``dask.distributed`` cluster use its dashboard, or
``distributed.progress(ens.persist())``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from tqdm.auto import tqdm
from tqdm.dask import TqdmCallback

__all__ = ["dask_progress", "on_terminal", "progress_bars", "wanted"]

_ENABLED: ContextVar[bool | None] = ContextVar("xgenda_progress", default=None)


def on_terminal() -> bool:
    """Whether a person is watching: stderr is a terminal, or this is a Jupyter kernel."""
    if bool(getattr(sys.stderr, "isatty", lambda: False)()):
        return True
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return get is not None and type(get()).__name__ == "ZMQInteractiveShell"


def wanted(progress: bool | None = None, *, default: bool = False) -> bool:
    """Whether to show a bar: ``progress`` if given, else the :func:`progress_bars`
    context, else ``default``."""
    if progress is not None:
        return bool(progress)
    enabled = _ENABLED.get()
    return default if enabled is None else enabled


@contextmanager
def dask_progress(desc: str, enabled: bool = True) -> Iterator[None]:
    """A bar over the tasks of the dask computations made inside the block.

    Parameters
    ----------
    desc : str
        Label of the bar (e.g. ``"assimilation"``).
    enabled : bool
        ``False`` makes the block a no-op.
    """
    if not enabled:
        yield
        return

    with TqdmCallback(desc=desc, unit="task", tqdm_class=tqdm):
        yield


@contextmanager
def progress_bars(enabled: bool = True, *, desc: str = "dask") -> Iterator[None]:
    """Show (or, with ``enabled=False``, hide) progress bars of long work inside the block.

    Parameters
    ----------
    enabled : bool
        Show the bars (``True``) or silence them (``False``).
    desc : str
        Label of the bars of dask computations.

    Examples
    --------
    >>> with xgenda.progress.progress_bars():                     # doctest: +SKIP
    ...     ens = template.genda.assimilate(prior, obs).compute()
    """
    token = _ENABLED.set(bool(enabled))
    try:
        with dask_progress(desc, bool(enabled)):
            yield
    finally:
        _ENABLED.reset(token)
