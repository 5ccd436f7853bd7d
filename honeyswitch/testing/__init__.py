"""Test helpers that ship with the package (STYLE.md point 9).

``playbook`` scripts the sans-IO session core as tables of events and commands; the
other modules run real servers, programs and a whole daemon on loopback.  They live here
rather than under ``tests/`` so that relay, detector and plugin test suites (and
third-party detectors) can use them the same way.
"""
