"""``python -m eqprop``: the reference models' command line (`eqprop.cli`)."""

import sys

from eqprop.cli import main

if __name__ == "__main__":
    sys.exit(main())
