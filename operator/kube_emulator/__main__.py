"""``python -m kube_emulator``: the API emulator as its own process (see ``emulator.main``)."""

import sys

from kube_emulator.emulator import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
