"""``python -m hpsearch ...``: the same as the ``hpsearch`` command."""

from ._cli import main

main()
