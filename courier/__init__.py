"""Courier Tracking System: the modules behind the routes registered in app1.py."""
