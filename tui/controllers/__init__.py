"""Plain classes (not widgets) that hold the main window's logic beside the panes: the
reader's (opening, bodies, pre-rendering) and the search's (filter, search, threads).

Each gets what it needs passed in: the backend, getters for the widgets it drives, and the
node whose workers it starts, so an exclusive worker group replaces its predecessor as an
``@work(exclusive=True)`` method of that node would.
"""
