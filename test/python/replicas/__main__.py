"""``python -m replicas DIR [NAME...]`` (with test/python on sys.path): write the replicas."""

import sys
from pathlib import Path

from replicas import write_all

print(" ".join(write_all(Path(sys.argv[1]), sys.argv[2:] or None)))
