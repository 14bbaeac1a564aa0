"""``python -m kube_emulator``: the API emulator as its own process (see ``emulator.main``)."""

import sys

from kube_emulator.emulator import main

__all__: list[str] = []  # an entry point: ``python -m kube_emulator`` runs ``emulator.main``

if __name__ == "__main__":
    sys.exit(main())
