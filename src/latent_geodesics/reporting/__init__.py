"""What every command's report shares: the plain-text tables (and, later, the report.json header block).

Low in the package (it needs nothing else of ours), so that every command can use it:

- :mod:`.tables`: the tables ``evaluate`` and ``compare`` print.
"""

from .tables import format_summary, format_table, median_or_none

__all__ = ["format_summary", "format_table", "median_or_none"]
