"""kmstui advisor plugin."""
