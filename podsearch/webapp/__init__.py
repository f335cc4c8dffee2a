"""The Streamlit app, one module per page (search, episode, library, collections) plus shared widgets and state.

`app.py` is the entry point; `nav.py` builds the pages and routes addresses to them.
"""
