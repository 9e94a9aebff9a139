"""commands of the gemscope TUI."""
