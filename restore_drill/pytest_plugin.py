"""pytest plugin: placeholder, wired below."""
