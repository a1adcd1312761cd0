"""``python -m genstatus_sync``: the genstatus command line."""

import sys

from .cli import main

sys.exit(main())
