"""Shared pytest set-up.

The corpus and the random-program suites run in the check mode
(``AD_COMPILER_CHECK=1``, ad_compiler/check.py): every derivative they
compile is also loaded without the clean-up passes, and every call compares
the two, so a clean-up pass that changes a value fails there even where the
test's own tolerance would not see it.  (About twice those tests' run time;
``AD_COMPILER_CHECK=0 pytest ...`` runs them without.)
"""
import os

import pytest

CHECKED_MODULES = {"test_corpus", "test_random_programs", "test_optimize"}


@pytest.fixture(autouse=True)
def _ad_check_mode(request, monkeypatch):
    if request.module.__name__.rsplit(".", 1)[-1] in CHECKED_MODULES \
            and os.environ.get("AD_COMPILER_CHECK") != "0":
        monkeypatch.setenv("AD_COMPILER_CHECK", "1")
