"""``python -m alexnet_lib.train``: see :func:`alexnet_lib.train.command.main`."""

import sys

from .command import main

sys.exit(main())
