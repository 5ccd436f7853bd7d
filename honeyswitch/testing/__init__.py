"""Test helpers that ship with the package: a playbook for the sans-IO session core.

They live here rather than under ``tests/`` so that the relay, detector and plugin test
suites (and third-party detectors) can script sessions the same way.
"""
