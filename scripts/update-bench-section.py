#!/usr/bin/env python3
"""Replace (or append) one '## TITLE' section of a Markdown file with stdin.

Usage: update-bench-section.py FILE TITLE < section.md
"""
import sys

path, title = sys.argv[1], sys.argv[2]
new = sys.stdin.read().rstrip("\n") + "\n"
try:
    lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
except FileNotFoundError:
    lines = ["# Benchmarks\n", "\n"]
heading = f"## {title}"
start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == heading), None)
if start is None:
    text = "".join(lines).rstrip("\n") + "\n\n" + new
else:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    text = "".join(lines[:start]) + new + ("\n" if end < len(lines) else "") + "".join(lines[end:])
open(path, "w", encoding="utf-8").write(text)
