ROWS = [{"source": "packaged_plugin.rows"}]
