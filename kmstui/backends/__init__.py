"""Key backends behind one KMS-shaped interface (see base.py)."""
