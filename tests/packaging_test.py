"""`pip install .` ships every subpackage (setuptools lists them by hand)."""

import os
import re
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PackagingTest(unittest.TestCase):
    def test_every_subpackage_is_listed_in_pyproject(self):
        with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
            block = re.search(r"^packages = \[(.*?)\]", f.read(), re.M | re.S)
        listed = set(re.findall(r'"([\w.]+)"', block.group(1)))
        found = {
            os.path.relpath(folder, ROOT).replace(os.sep, ".")
            for folder, _, files in os.walk(os.path.join(ROOT, "keras_vim"))
            if "__init__.py" in files
        }
        self.assertEqual(found - listed, set())
