"""The ward's web app: server-rendered pages, French first, nothing loaded from outside."""
