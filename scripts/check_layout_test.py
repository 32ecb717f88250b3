#!/usr/bin/python3
"""Tests of check_layout.py over small made-up trees (ctest layout_check_test)."""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_layout.py")

LAYOUT = """\
# layout
```deps
common:
model: common
store: model
store/embedded: store
api: store
server: api store/embedded
testing: store/embedded
```
"""

CMAKE = """\
loupe_library(loupe_common common)
loupe_library(loupe_model  model  loupe_common)
loupe_library(loupe_store  store  loupe_model)
loupe_library(loupe_embedded store/embedded loupe_store)
loupe_library(loupe_api    api    loupe_store)
loupe_library(loupe_server server loupe_api loupe_embedded)
target_link_libraries(loupe_testing PUBLIC loupe_embedded)
"""


class CheckLayoutTest(unittest.TestCase):
    def tree(self, files, cmake=CMAKE, layout=LAYOUT):
        root = tempfile.mkdtemp()
        all_files = {"CMakeLists.txt": cmake, "docs/design/layout.md": layout,
                     "src/common/status.h": "#pragma once\n",
                     "src/store/store.h": '#include "model/span.h"\n',
                     "src/model/span.h": '#include "common/status.h"\n'}
        all_files.update(files)
        for path, text in all_files.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as fh:
                fh.write(textwrap.dedent(text))
        return subprocess.run([sys.executable, CHECK, root], capture_output=True, text=True)

    def test_a_tree_that_follows_the_graph_passes(self):
        r = self.tree({"src/api/api.cc": '#include "store/store.h"\n#include "common/status.h"\n'
                                         '#include "rapidjson/document.h"\n#include <vector>\n',
                       "src/server/main.cc": '#include "store/embedded/engine.h"\n',
                       "src/store/embedded/engine.h": '#include "store/store.h"\n'})
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_an_include_against_the_graph_names_file_and_line(self):
        r = self.tree({"src/api/api.cc": '#include "store/store.h"\n#include "store/embedded/engine.h"\n',
                       "src/store/embedded/engine.h": "\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn('src/api/api.cc:2: src/api includes "store/embedded/engine.h"', r.stdout)

    def test_a_lower_layer_may_not_include_a_higher_one(self):
        r = self.tree({"src/store/bad.h": '#include "api/api.h"\n', "src/api/api.h": "\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("src/store/bad.h:1:", r.stdout)

    def test_a_test_may_use_what_testing_reaches(self):
        r = self.tree({"src/api/api_test.cc": '#include "store/embedded/engine.h"\n',
                       "src/store/embedded/engine.h": "\n"})
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_a_test_may_use_what_its_own_link_line_adds(self):
        layout = LAYOUT.replace("testing: store/embedded", "testing: store")
        cmake = CMAKE.replace("target_link_libraries(loupe_testing PUBLIC loupe_embedded)",
                              "target_link_libraries(loupe_testing PUBLIC loupe_store)")
        files = {"src/api/api_test.cc": '#include "store/embedded/engine.h"\n',
                 "src/store/embedded/engine.h": "\n"}
        r = self.tree(files, cmake=cmake, layout=layout)
        self.assertEqual(r.returncode, 1, r.stdout)
        r = self.tree(files, cmake=cmake + "target_link_libraries(api_test PRIVATE loupe_embedded)\n",
                      layout=layout)
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_a_link_line_wider_than_the_graph_fails(self):
        r = self.tree({}, cmake=CMAKE.replace("loupe_library(loupe_api    api    loupe_store)",
                                              "loupe_library(loupe_api    api    loupe_embedded)"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("the library of src/api links src/store/embedded", r.stdout)

    def test_a_folder_without_a_line_fails(self):
        r = self.tree({"src/alert/rules.cc": "\n"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("src/alert: folder is not in the deps block", r.stdout)


if __name__ == "__main__":
    unittest.main()
