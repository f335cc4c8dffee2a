"""The script Streamlit runs for `podsearch app`, in a folder of its own: Streamlit puts the script's
folder first on sys.path, where page modules such as `collections.py` would shadow other modules."""
