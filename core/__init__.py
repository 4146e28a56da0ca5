"""dynahate.core: what every command shares and that knows nothing of Dynahate, models or the Hub.

Errors shown as one line, all-or-nothing writes, JSON/JSONL and UTF-8/CSV reading, naming a
value without showing a post, argparse number types and shared option declarations, output-path
checks, and the ``dynahate`` entry point. It imports no other package of the project.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dynahate-qlora")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
