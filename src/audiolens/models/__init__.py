"""Model runtimes and weights: where weights are found, and sessions made for a device.

Each module here adapts one runtime or one family of weights; tasks ask these modules for a
ready model and never look for files or pick execution providers themselves.
"""

from __future__ import annotations

__all__: list[str] = []
