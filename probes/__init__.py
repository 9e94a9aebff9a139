"""What gemscope attaches: BPF C programs (.bpf.c, read as package data) and the probe catalog.

Imports neither `tracer` nor `tui`.
"""
