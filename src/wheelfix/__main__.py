"""``python -m wheelfix``: the command line entry point."""

from __future__ import annotations

from wheelfix.cli import main

if __name__ == "__main__":
    main()
