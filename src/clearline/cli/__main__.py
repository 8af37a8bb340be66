"""`python -m clearline.cli`: the same entry point as the `clearline` command."""

from clearline.cli import main

main()
