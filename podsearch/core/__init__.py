"""The ground layer: records, errors, configuration and shared constants.

Imports nothing of podsearch's own, so every other layer (and a Ray worker) may import it.
"""
