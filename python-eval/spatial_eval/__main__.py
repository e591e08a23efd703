"""``python -m spatial_eval``: see :mod:`spatial_eval.cli`."""

import sys

from spatial_eval.cli import main

sys.exit(main())
