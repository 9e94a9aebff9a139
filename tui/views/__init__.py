"""views of the gemscope TUI."""
