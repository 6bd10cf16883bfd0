"""Build the labelled timbre set (the library behind it: :mod:`rtst.testing.labelled`).

    python tools/make_labelled_set.py --out DIR [--per-class N]
"""

import sys

from rtst.testing.labelled import main

if __name__ == "__main__":
    sys.exit(main())
