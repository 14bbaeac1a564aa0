"""``python -m punctual.sandbox``: the API emulator as its own process (see ``emulator.main``)."""

import sys

from punctual.sandbox.emulator import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
