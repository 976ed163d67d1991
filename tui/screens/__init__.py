"""The TUI's modal screens: help and the folder picker."""
