"""Search and threads (issue 9): the query language, its IMAP translation, JWZ threading.

- :mod:`sync.search.query`: what users type, parsed into a typed expression tree;
- :mod:`sync.search.server`: the same query as IMAP ``UID SEARCH`` (the server phase);
- :mod:`sync.search.threads`: JWZ threading as a pure function.

The local phase (SQLite FTS5) and the thread cache live with the rest of the SQL, in
:mod:`sync.store.search`. Nothing here imports the store at run time.
"""

from sync.search.query import (
    And,
    DateBound,
    FlagTest,
    Folder,
    HasAttachment,
    Not,
    Or,
    Query,
    QueryError,
    Text,
    folder_matches,
    parse_query,
)
from sync.search.server import imap_criteria, server_search
from sync.search.threads import Threaded, ThreadInput, build_threads, message_ids

__all__ = [
    "And",
    "DateBound",
    "FlagTest",
    "Folder",
    "HasAttachment",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Text",
    "ThreadInput",
    "Threaded",
    "build_threads",
    "folder_matches",
    "imap_criteria",
    "message_ids",
    "parse_query",
    "server_search",
]
