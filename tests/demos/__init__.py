"""The demo backends of `make run` (plugin_devcluster.demos), each with its example plugin end to end."""
