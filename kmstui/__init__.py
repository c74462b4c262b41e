"""kmstui: a key-management workbench for the terminal (AWS KMS, PKCS#11, a local sealed-key HSM)."""

__version__ = "0.1.0"
