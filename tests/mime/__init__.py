"""Tests of sync.mime: charsets, MIME structure, HTML to text, file names (issue 7)."""
