"""``python -m punctual.sandbox``: the API emulator as its own process (see ``emulator.main``)."""

import sys

from punctual.sandbox.emulator import main

sys.exit(main())
