"""kmstui whatif plugin."""
