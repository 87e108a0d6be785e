"""``python -m keepalive``: the command line of keepalive/cli.py."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
