"""Reports and pictures of results (matplotlib is imported only when a picture is drawn).

- :func:`build_report` -- a results store as one offline HTML page (summary, a sortable and
  filterable table of every file, a detail view per file), alone or in a folder with pictures
- :mod:`audiolens.report.plots` -- the pictures people check results by eye with
"""

from __future__ import annotations

from .build import PAGE_NAME, ReportInfo, build_report

__all__ = ["PAGE_NAME", "ReportInfo", "build_report"]
