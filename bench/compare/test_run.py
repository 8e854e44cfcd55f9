#!/usr/bin/env python3
"""Tests of run.py's rebuild checks on a real generated tree built with
ninja and gcc: a run that rebuilds exactly the right outputs passes, one that
rebuilds nothing or everything fails. Run: python3 bench/compare/test_run.py"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "gen"))
import gen  # noqa: E402
import run  # noqa: E402

N = 30


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tupfs-run-")
        self.tree = os.path.join(self.tmp, "tree")
        self.m = gen.generate(N, self.tree, seed=3)
        subprocess.run(["ninja", "-j2"], cwd=self.tree, check=True, timeout=300,
                       stdout=subprocess.DEVNULL)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def check(self, argv, case):
        tool = run.Tool("t", "ninja", argv)
        peak, check = run.checked_run(tool, case, self.tree, self.m)
        self.assertIsNotNone(peak, check)
        return check

    def test_ninja_passes_every_case(self):
        ninja = ["ninja", "-j2"]
        for case in ["noop", "touch-c", "edit-h", "noop"]:
            self.assertEqual(self.check(ninja, case), "ok", case)

    def test_a_tool_that_does_nothing_fails_the_edit(self):
        check = self.check(["true"], "edit-h")
        must = len(self.m["edit_rebuilds"]) + len(self.m["edit_relinks"])
        self.assertIn(f"not rebuilt ({must})", check)

    def test_a_tool_that_rebuilds_everything_fails_the_touch(self):
        check = self.check(["sh", "floor/full.sh"], "touch-c")
        self.assertIn("rebuilt without cause", check)

    def test_a_noop_that_rebuilds_fails(self):
        os.utime(os.path.join(self.tree, self.m["touch_c"]))
        check = self.check(["ninja", "-j2"], "noop")
        self.assertIn("rebuilt without cause (", check)
        self.assertIn(self.m["touch_o"], check)

    def test_touch_is_not_a_change_in_the_digest_modes(self):
        # mtime+digest must rebuild nothing after a touch: ninja does, so it fails.
        tool = run.Tool("t", "tupfs", ["ninja", "-j2"], "mtime+digest")
        _, check = run.checked_run(tool, "touch-c", self.tree, self.m)
        self.assertIn("rebuilt without cause", check)


if __name__ == "__main__":
    unittest.main()
