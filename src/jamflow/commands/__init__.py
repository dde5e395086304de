"""`jamflow` subcommands: one module per command; each parses its flags and calls the domain code."""
