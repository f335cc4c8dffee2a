"""The Streamlit app's parts (pages and their shared pieces)."""
