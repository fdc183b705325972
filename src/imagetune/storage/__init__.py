"""Where originals and results live (local files now, object stores later)."""
