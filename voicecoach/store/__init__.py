"""The store: the session history on disk and its journal."""
