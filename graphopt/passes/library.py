"""Imports every built-in pass so that registering them is one import."""
