"""Local development tooling: the embedded stack, seed data and the event pump.

Not part of the Lambda package (Chalice packages only app.py, chalicelib/ and vendor/).
"""
