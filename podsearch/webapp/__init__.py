"""The Streamlit app, one module per page (search, episode, library, collections) plus shared widgets and state.

`main.py` frames every run (the entry scripts `app.py` and `entry/app.py` call it); `nav.py` builds the pages and routes addresses to them.
"""
