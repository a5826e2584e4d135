"""`python -m ser_core.cli` is the `ser` command (used where the console script is not on PATH)."""

import sys

from ser_core.cli import main

sys.exit(main())
