"""mailtui's headless core: store, sync engine, IMAP, MIME and SMTP.

This package never imports Textual or ``tui``; ``tests/test_import_rule.py`` enforces it.
"""
