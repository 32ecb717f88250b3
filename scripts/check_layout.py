#!/usr/bin/python3
"""Fails when a source file includes a header against Loupe's dependency graph.

The graph has one written source: the ```deps block of docs/design/layout.md
(folder: the folders it may use directly). The check reads it and then:

  1. every folder under src/ is in the graph (a new folder needs a line);
  2. every CMake library's link line (loupe_library() in CMakeLists.txt) names
     only libraries the graph allows, directly or through their own allowed
     folders, so the build cannot quietly widen the graph;
  3. every `#include "dir/..."` in src/DIR names DIR itself or a folder that
     DIR's CMake library reaches through its link line; a *_test.cc may also use
     what src/testing reaches, as its test executable links loupe_testing, and
     what its own target_link_libraries(foo_test ...) line adds.

Each violation is printed as `path:line: message`; the exit status is 1 if there
is any. Usage: scripts/check_layout.py [repo-root]   (run by ctest as layout_check)
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
SRC = os.path.join(ROOT, "src")
LAYOUT = os.path.join(ROOT, "docs", "design", "layout.md")
CMAKE = os.path.join(ROOT, "CMakeLists.txt")


def read_graph():
    """Folder -> set of folders it may use directly, from layout.md's deps block."""
    text = open(LAYOUT, encoding="utf-8").read()
    m = re.search(r"```deps\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"{LAYOUT}: no ```deps block")
    graph = {}
    for n, line in enumerate(m.group(1).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        folder, _, deps = line.partition(":")
        graph[folder.strip()] = set(deps.replace(",", " ").split())
    for folder, deps in graph.items():
        for d in deps:
            if d not in graph:
                sys.exit(f"{LAYOUT}: {folder} uses {d}, which has no line of its own")
    return graph


def closure(graph, start):
    seen, todo = set(), list(start)
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo.extend(graph.get(f, ()))
    return seen


def read_cmake():
    """Library name -> folder, and folder -> folders its link line names."""
    text = open(CMAKE, encoding="utf-8").read()
    lib_dir, links = {}, {}
    for m in re.finditer(r"^\s*loupe_library\(\s*([^\s)]+)\s+([^\s)]+)([^)]*)\)", text, re.M):
        lib_dir[m.group(1)] = m.group(2)
        links[m.group(2)] = m.group(3).split()
    lib_dir["loupe_testing"] = "testing"
    for m in re.finditer(r"^\s*target_link_libraries\(\s*(loupe_\w+)\s+(?:PUBLIC|PRIVATE|INTERFACE)?([^)]*)\)",
                         text, re.M):
        if m.group(1) in lib_dir:
            links.setdefault(lib_dir[m.group(1)], []).extend(m.group(2).split())
    folder_links = {d: {lib_dir[l] for l in ls if l in lib_dir} for d, ls in links.items()}
    # A test executable may link more than its folder's library (a layer's
    # test over the engine): target_link_libraries(foo_test PRIVATE loupe_x).
    test_links = {}
    for m in re.finditer(r"^\s*target_link_libraries\(\s*(\w+_test)\s+(?:PUBLIC|PRIVATE|INTERFACE)?([^)]*)\)",
                         text, re.M):
        test_links.setdefault(m.group(1), set()).update(lib_dir[l] for l in m.group(2).split() if l in lib_dir)
    return folder_links, test_links


def folder_of(path, folders):
    """The longest graph folder that `path` (relative to src/) lies in, or None."""
    best = None
    for f in folders:
        if path == f or path.startswith(f + "/"):
            if best is None or len(f) > len(best):
                best = f
    return best


def main():
    graph = read_graph()
    links, test_links = read_cmake()
    errors = []

    src_folders = set()
    for dirpath, _, files in os.walk(SRC):
        if any(f.endswith((".cc", ".h")) for f in files):
            src_folders.add(os.path.relpath(dirpath, SRC))
    for f in sorted(src_folders - set(graph)):
        errors.append(f"src/{f}: folder is not in the deps block of docs/design/layout.md")

    for folder, linked in sorted(links.items()):
        allowed = closure(graph, graph.get(folder, ()))
        for l in sorted(linked - allowed):
            errors.append(f"CMakeLists.txt: the library of src/{folder} links src/{l}, "
                          f"which layout.md does not allow (allowed: {', '.join(sorted(allowed)) or 'nothing'})")

    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for dirpath, _, files in os.walk(SRC):
        folder = os.path.relpath(dirpath, SRC)
        if folder not in graph:
            continue
        reach = {folder} | closure(links, links.get(folder, ()))
        if folder == "testing":
            reach |= closure(links, links.get("testing", ()))
        test_reach = reach | {"testing"} | closure(links, links.get("testing", ()))
        for name in sorted(files):
            if not name.endswith((".cc", ".h")):
                continue
            is_test = name.endswith(("_test.cc", "_fuzz.cc"))
            ok = test_reach if is_test else reach
            if is_test and name[:-3] in test_links:
                extra = test_links[name[:-3]]
                ok = ok | extra | closure(links, set().union(*(links.get(f, set()) for f in extra)))
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = include_re.match(line)
                    if not m:
                        continue
                    target = folder_of(os.path.dirname(m.group(1)), graph)
                    if target is None or target in ok:
                        continue  # a third-party header, or an allowed folder
                    why = ("not in its link line's reach"
                           if target in closure(graph, graph[folder]) else
                           "against docs/design/layout.md")
                    errors.append(f"{os.path.relpath(path, ROOT)}:{n}: src/{folder} includes "
                                  f"\"{m.group(1)}\" (src/{target}): {why}")

    for e in errors:
        print(e)
    if errors:
        print(f"layout check: {len(errors)} violation(s); the graph is in docs/design/layout.md")
        return 1
    print(f"layout check: {len(graph)} folders, includes and link lines follow docs/design/layout.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
