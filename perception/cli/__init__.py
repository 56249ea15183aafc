"""`perception <subcommand>`: one thin module per subcommand, each with `add_parser` and `run`."""
