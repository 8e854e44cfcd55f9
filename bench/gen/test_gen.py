#!/usr/bin/env python3
"""Tests of gen.py: the tree's shape, and real builds of it with gcc, make,
ninja, tup and the floor scripts. Run: python3 bench/gen/test_gen.py"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

N = 30


def run(cmd, cwd):
    return subprocess.run(cmd, shell=True, cwd=cwd, timeout=300, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout


class GenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tupfs-gen-")
        self.tree = os.path.join(self.tmp, "tree")
        self.m = gen.generate(N, self.tree, seed=7)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def includes_of(self, c):
        with open(os.path.join(self.tree, c)) as f:
            return re.findall(r'#include "([^"]+)"', f.read())

    def test_shape(self):
        self.assertEqual(len(self.m["dirs"]), 3)
        for d in self.m["dirs"]:
            files = os.listdir(os.path.join(self.tree, d))
            self.assertEqual(sum(f.endswith(".c") for f in files), 10, d)
            self.assertEqual(sum(f.endswith(".h") for f in files), 10, d)
            self.assertIn("Tupfile", files)
        c = self.m["touch_c"]
        incs = self.includes_of(c)
        self.assertEqual(len(set(incs)), 7)
        self.assertEqual(incs[0], c[:-2] + ".h")  # its own header first

    def test_same_seed_same_tree_other_seed_other_includes(self):
        for seed, same in ((7, True), (8, False)):
            other = os.path.join(self.tmp, f"seed{seed}")
            m = gen.generate(N, other, seed=seed)
            with open(os.path.join(other, self.m["touch_c"])) as f:
                incs = re.findall(r'#include "([^"]+)"', f.read())
            self.assertEqual(incs == self.includes_of(self.m["touch_c"]), same, seed)
            if same:
                self.assertEqual(m, self.m)

    def test_edit_rebuilds_exactly_the_includers(self):
        includers = sorted(
            c[:-2] + ".o"
            for d in self.m["dirs"]
            for c in (f"{d}/{f}" for f in os.listdir(os.path.join(self.tree, d)) if f.endswith(".c"))
            if self.m["edit_h"] in self.includes_of(c))
        self.assertEqual(includers, self.m["edit_rebuilds"])
        self.assertGreaterEqual(len(includers), 5)

    def built(self):
        return all(os.path.exists(os.path.join(self.tree, o)) for o in self.m["outputs"])

    def test_floor_builds_and_clean_removes(self):
        run("sh floor/full.sh", self.tree)
        self.assertTrue(self.built())
        run("m00/d00/prog || test $? -eq 1", self.tree)  # it links and runs
        run("sh floor/clean.sh", self.tree)
        self.assertFalse(any(os.path.exists(os.path.join(self.tree, o)) for o in self.m["outputs"]))
        self.assertTrue(os.path.exists(os.path.join(self.tree, self.m["touch_c"])))

    def check_tool(self, tool, cmd):
        if shutil.which(tool) is None:
            self.skipTest(f"{tool} is not installed")
        run(cmd, self.tree)
        self.assertTrue(self.built())
        # A header edit must rebuild its includers and only them.
        before = {o: os.stat(os.path.join(self.tree, o)).st_mtime_ns for o in self.m["outputs"]}
        run(f"sleep 1 && perl -pi -e 's/^(#define {self.m['edit_macro']} )(\\d+)/$1.($2+1)/e' "
            f"{self.m['edit_h']}", self.tree)
        run(cmd, self.tree)
        changed = sorted(o for o in self.m["outputs"] if o.endswith(".o") and
                         os.stat(os.path.join(self.tree, o)).st_mtime_ns != before[o])
        self.assertEqual(changed, self.m["edit_rebuilds"])

    def test_make(self):
        self.check_tool("make", "make -j2 -s")

    def test_ninja(self):
        self.check_tool("ninja", "ninja -j2")

    def test_tup(self):
        self.check_tool("tup", "tup -j2 --quiet")


if __name__ == "__main__":
    unittest.main()
