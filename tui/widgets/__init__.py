"""widgets of the gemscope TUI."""
