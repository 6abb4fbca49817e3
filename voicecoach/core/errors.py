"""The error a user can fix, shared by the doors (`cli`, `serve`) and the app they call,
so that the app never imports the command line."""


class UserError(Exception):
    """A problem the user can fix; printed as one line."""
