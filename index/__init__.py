"""Passages, embeddings, the FAISS and keyword indexes, and search (transcript -> passages -> hits)."""
