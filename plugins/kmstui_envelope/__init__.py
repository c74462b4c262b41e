"""kmstui envelope plugin."""
