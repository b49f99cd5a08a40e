"""Plans in and out: import, export, Markdown outlines, and decomposition by an external program."""
