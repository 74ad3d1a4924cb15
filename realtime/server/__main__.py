"""``python -m realtime.server [daphne's arguments] module:application``."""

import sys

from realtime.server.serve import main

main(sys.argv[1:])
