"""``python -m audiolens``: the command line."""

from audiolens.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
