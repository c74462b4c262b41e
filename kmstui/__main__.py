"""`python -m kmstui` runs the same entry point as the `kmstui` console script."""

from kmstui.launch import console

console()
