"""The scaling benchmark (``python bench/run.py``) and helpers the tests share with it."""
