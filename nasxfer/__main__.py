"""``python -m nasxfer``: the same command line as the ``nasxfer`` script."""

from nasxfer.cli import main

main()
