"""Runwright."""
