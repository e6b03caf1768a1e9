"""``python -m services``: the same as the ``tiendo`` command."""

from services.cli import main

main()
