"""The command line: a thin shell that parses flags, builds the settings and renders results."""
