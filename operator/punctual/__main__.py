"""``python -m punctual`` runs the ``punctual`` command."""

import sys

from punctual.cli import main

__all__ = ["main"]

sys.exit(main())
