"""Command-line interface: the only place in the package that parses argv."""
