"""The ``hpsearch`` command: replaces this Python process with the hpsearch binary shipped in the
package, so that the binary (not Python) is the running program and starts the ``hpsearch _wrap``
processes of a search itself."""

import os
import sys


def binary() -> str:
    """The path of the hpsearch binary in this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bin", "hpsearch")


def main() -> None:
    exe = binary()
    try:
        os.execv(exe, ["hpsearch", *sys.argv[1:]])
    except OSError as error:
        sys.exit(f"hpsearch: cannot run {exe}: {error}; reinstall the hpsearch wheel")


if __name__ == "__main__":
    main()
