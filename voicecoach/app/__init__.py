"""The app: settings, the command line, run and serve, the runner, the views, doctor."""
