"""What every command's report shares: the ``report.json`` header block and the plain-text tables.

Low in the package (it needs only the version), so that every command can use it:

- :mod:`.header`: ``tool``, ``command``, ``version``, the ``model`` block and ``host`` of ``report.json``;
- :mod:`.tables`: the tables ``evaluate`` and ``compare`` print.
"""

from .header import host, model_block, report_json, tool
from .tables import format_summary, format_table, median_or_none

__all__ = ["format_summary", "format_table", "host", "median_or_none", "model_block", "report_json", "tool"]
