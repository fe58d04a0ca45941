"""A server that dies at start-up with an explanation on stderr."""

import sys

print("fatal: the database file is missing", file=sys.stderr, flush=True)
sys.exit(1)
