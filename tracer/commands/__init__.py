"""One module per headless subcommand; each defines register(subparsers)."""
