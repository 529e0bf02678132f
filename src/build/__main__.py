"""``python -m src.build``: the build command (src/build/cli.py)."""

import sys

from src.build.cli import main

sys.exit(main())
