"""The pure core: routines, plans, commands, the session and its rules. No I/O, no clock."""
