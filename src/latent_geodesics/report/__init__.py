"""The pictures and the pages of the reports: labelled grid, side-by-side video frames (:mod:`.pictures`), plots
(:mod:`.plots`), HTML (:mod:`.html`).

Everything here draws from numbers and frames it is given (a report dict and uint8 frames); nothing is
recomputed.
"""

from .html import escape, number, write_html, write_page
from .pictures import labelled_grid, side_by_side_frames
from .plots import plot_series, write_plots

__all__ = ["escape", "labelled_grid", "number", "plot_series", "side_by_side_frames", "write_html", "write_page",
           "write_plots"]
