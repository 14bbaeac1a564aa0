"""``python -m punctual`` runs the ``punctual`` command."""

import sys

from punctual.cli import main

sys.exit(main())
