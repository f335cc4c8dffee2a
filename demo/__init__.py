"""The demo podcast, shipped inside the package as `podsearch.demo` (see README.md here); `make_demo.py` made it."""
