"""``python -m rtst`` is the same program as the ``rtst`` console script."""

import sys

from rtst.cli import main

sys.exit(main())
