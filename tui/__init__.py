"""mailtui's Textual front end and command line. Textual is imported lazily, only by the TUI."""
