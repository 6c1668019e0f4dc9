"""Charges & Usage billing back end: domain, adapters, services and HTTP/event entry points."""
