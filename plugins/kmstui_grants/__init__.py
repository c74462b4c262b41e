"""kmstui grants plugin."""
