"""Figures readable at the book's column width: no text shows below plots.MIN_TEXT_PX."""
import ast
import inspect

import matplotlib.pyplot as plt
import numpy as np

from diffprune import plots


def test_a_wide_figure_with_small_text_is_made_readable_at_the_column_width():
    fig, ax = plt.subplots(figsize=(12.5, 3.6))
    ax.plot(np.arange(5), label="a")
    ax.legend(fontsize=6)
    ax.set_title("title", fontsize=10)
    ax.text(1, 1, "note", fontsize=5)
    assert plots.smallest_text_px(fig) < plots.MIN_TEXT_PX  # as drawn: 5 pt in a 12.5-inch figure
    fig = plots._done(fig)
    assert plots.smallest_text_px(fig) >= plots.MIN_TEXT_PX - 1e-9
    w, h = fig.get_size_inches()
    assert w <= plots.MAX_WIDTH_IN + 1e-9 and abs(w / h - 12.5 / 3.6) < 1e-6  # scaled, not reshaped
    assert ax.title.get_fontsize() == 10  # text already large enough is left alone


def test_every_figure_of_the_book_ends_in_the_readability_step():
    tree = ast.parse(inspect.getsource(plots))
    public = [f for f in tree.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
              and f.name not in ("displayed_px", "smallest_text_px")]
    assert public
    for f in public:
        last = f.body[-1]
        assert isinstance(last, ast.Return) and isinstance(last.value, ast.Call) and \
            getattr(last.value.func, "id", "") == "_done", f.name


def test_panels_side_by_side_are_restacked_one_per_row_and_tiles_are_scaled():
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.6), sharey=True)
    for ax in axes:
        ax.plot(np.arange(5))
        ax.set_title("a title long enough to need the whole column's width", fontsize=10)
    fig = plots._done(fig)
    assert np.allclose(fig.get_size_inches(), (plots.MAX_WIDTH_IN, 3 * 3.6))
    tops = sorted(ax.get_position().y0 for ax in fig.axes)
    assert len(fig.axes) == 3 and tops[0] < tops[1] < tops[2]  # one under the other
    assert all(ax.get_position().width > 0.7 for ax in fig.axes)
    tiles, cells = plt.subplots(4, 12, figsize=(8.2, 3.0))
    for ax in cells.ravel():
        ax.imshow(np.zeros((4, 4)))
        ax.axis("off")
    tiles = plots._done(tiles)
    assert len(tiles.axes) == 48 and tiles.get_size_inches()[0] <= plots.MAX_WIDTH_IN + 1e-9
