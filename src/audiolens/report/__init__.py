"""Pictures and reports of results (matplotlib is imported only when a picture is drawn)."""
