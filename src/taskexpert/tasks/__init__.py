"""Tasks: what taskexpert learns, as configuration; `tasks.readers` reads each dataset's original files."""
