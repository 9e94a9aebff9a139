"""ftrace without BCC: tracefs format files, the ring-buffer page encoding, trace.dat and ftrace
text readers, the mapping of tracepoint/kprobe events to gemscope's schema, and the live tracefs
source. Pure Python (numpy/pyarrow); never imports textual and needs no trace-cmd binary."""
