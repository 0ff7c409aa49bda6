"""A long loop's own progress: the library's bars, which also tell a listener how far they are.

Inside the study a step's bars are off (one terminal line per plan, not a bar per loop), so a
long step — a 20,000-step teacher, 1,000 samples — would sit silent for an hour. `Bar` is tqdm
that also reports "train 6,200/7,500" to whoever listens (`listening`: the study's progress
line shows it beside the step it is computing). tqdm has no hook for this: a disabled bar counts
nothing, and an enabled one under another bar writes a second line into every log.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from tqdm import tqdm

_listeners: list[Callable[[Bar], None]] = []


@contextlib.contextmanager
def listening(listener: Callable[[Bar], None]) -> Iterator[None]:
    """Within it, every `Bar` in this process calls `listener(bar)` as it moves (`bar.what`,
    `bar.done` of `bar.total`)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class Bar(tqdm):
    """tqdm (shown or not, as its `disable`) that tells the listeners each item done (`done`: a
    disabled tqdm counts nothing in its own `n`)."""

    def __init__(self, iterable=None, *, desc: str = "", total: int | None = None, initial: int = 0, **kwargs):
        super().__init__(iterable, desc=desc, total=total, initial=initial, **kwargs)
        self.what, self.done, self._iterating = desc, initial, False
        self.start = initial  # where it began: a resumed loop's earlier part is not this run's work

    def __iter__(self):
        self._iterating = True  # tqdm's own iteration calls `update` now and then: counted here instead
        try:
            for item in super().__iter__():
                yield item
                self._tell(1)
        finally:
            self._iterating = False

    def update(self, n: float | None = 1):
        out = super().update(n)
        if not self._iterating:
            self._tell(int(n or 0))
        return out

    def _tell(self, n: int) -> None:
        self.done += n
        for listen in _listeners:
            listen(self)

