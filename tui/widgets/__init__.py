"""The TUI's widgets: message list, folder tree, reader pane, status bar."""
