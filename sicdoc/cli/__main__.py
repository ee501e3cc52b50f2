"""``python -m sicdoc.cli``: the same command line as ``sicdoc``."""

from sicdoc.cli import main

main()
