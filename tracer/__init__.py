"""gemscope's headless core: event schema, recordings, sources, analyses and the CLI.

Never imports textual: the TUI lives in the `tui` package and depends on this one, not the reverse.
"""

__version__ = "0.1.0"
