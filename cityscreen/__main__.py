"""``python -m cityscreen`` is the ``cityscreen`` command."""

from cityscreen.cli import main

main()
