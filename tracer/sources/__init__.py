"""Sources of events. Every mode (recording replay, live BCC, live tracefs, ftrace import) is a
Source; the TUI and the reports cannot tell them apart except through `capabilities`."""
