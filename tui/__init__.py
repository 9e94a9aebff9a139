"""The Textual app. It gets a Source handed in and knows nothing of BCC or tracefs."""
