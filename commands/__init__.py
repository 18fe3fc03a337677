"""The command line's commands, one module per family of work; `cli.py` wires them into one group.

Commands never hold logic of their own: they parse options, call `checks` and `reports`, and print."""
