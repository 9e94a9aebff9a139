"""screens of the gemscope TUI."""
