"""``python -m punctual`` runs the ``punctual`` command."""

import sys

from punctual.cli import main

__all__: list[str] = []  # an entry point, run by ``python -m punctual``

sys.exit(main())
