"""Live tracing on this machine: kernel feature probe, BCC session, batch decoder, taskstats."""
