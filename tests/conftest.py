"""Test settings: hypothesis draws the same examples on every machine (CI runs on a clean clone, so a random
draw would make the suite flaky; a failure must reproduce from the test's source alone)."""
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, print_blob=True)
settings.load_profile("deterministic")
