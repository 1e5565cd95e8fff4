"""What polls and proposals share: tables, errors, Sejong's zones, residents' home zones."""
