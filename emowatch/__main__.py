"""`python -m emowatch` runs the command line."""

from emowatch.cli.main import main

main()
