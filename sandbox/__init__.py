"""Simulators of Microsoft Graph and the Yeastar P-Series OpenAPI, for the demo, tests and benches.

The sandbox imports nothing of the product: a simulator that shared the client's models would
share its mistakes. Each simulator is a small Flask app over an in-memory store.
"""
