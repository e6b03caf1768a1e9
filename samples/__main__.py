"""Write the 2024 sample provincial feeds, one JSON-lines file per topic, and print the paths written.

Usage: python -m samples [DIRECTORY]   (default: deploy/samples/feeds-2024)
"""

import sys
from pathlib import Path

from samples.feeds import generate_year, write_feeds

DEFAULT = Path(__file__).resolve().parent.parent / "deploy" / "samples" / "feeds-2024"

directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
for path in write_feeds(generate_year(), directory):
    print(path)
