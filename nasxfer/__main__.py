"""``python -m nasxfer`` runs the command line."""

from nasxfer.cli import main

main()
