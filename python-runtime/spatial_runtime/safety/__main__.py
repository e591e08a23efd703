"""``python -m spatial_runtime.safety``: the command line of :func:`spatial_runtime.safety.main` (the host keeps one
``--serve`` process per session)."""

import sys

from spatial_runtime.safety import main

sys.exit(main())
