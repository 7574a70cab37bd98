"""PDF: a lean reader, incremental updates, signature fields and appearances, PAdES levels, text positions."""
