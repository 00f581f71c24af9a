"""``python -m faregate``: the same CLI as the ``faregate`` script."""

from .cli import main

main()
