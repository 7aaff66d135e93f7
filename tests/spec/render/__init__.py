"""Tests of spec.render (a package so its module names cannot collide with tests/spec/test_*.py)."""
