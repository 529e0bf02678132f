"""``python -m src.pipeline``: the build command (src/pipeline/cli.py)."""

import sys

from src.pipeline.cli import main

sys.exit(main())
