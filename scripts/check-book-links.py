#!/usr/bin/env python3
"""Checks the links inside the guide (book/src): every relative link names a file that
exists and, with a `#fragment`, a heading of that file (ids made as mdBook makes them).
Links in code blocks and to other sites are not checked. Exits 1 on a broken link.

Usage: scripts/check-book-links.py [BOOK_SRC]   (default: book/src)
"""
import os
import re
import sys

LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def strip_code(text):
    """The text with fenced code blocks and inline code blanked out."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else re.sub(r"`[^`]*`", "", line))
    return out


def heading_ids(path):
    """The ids mdBook gives the headings of `path`: lowercase, letters, digits, `-` and
    `_` kept, spaces made `-`, the rest dropped; repeats get `-1`, `-2`..."""
    ids, seen = set(), {}
    with open(path, encoding="utf-8") as f:
        for line in strip_code(f.read()):
            m = HEADING.match(line)
            if not m:
                continue
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(2))
            base = "".join(
                c for c in text.strip().lower().replace(" ", "-")
                if c.isalnum() or c in "-_"
            )
            n = seen.get(base, 0)
            seen[base] = n + 1
            ids.add(base if n == 0 else f"{base}-{n}")
    return ids


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "book/src"
    broken, checked = [], 0
    for name in sorted(os.listdir(root)):
        if not name.endswith(".md"):
            continue
        path = os.path.join(root, name)
        with open(path, encoding="utf-8") as f:
            lines = strip_code(f.read())
        for number, line in enumerate(lines, 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue  # another site, mailto:
                checked += 1
                file_part, _, fragment = target.partition("#")
                target_path = os.path.normpath(
                    os.path.join(root, file_part) if file_part else path
                )
                where = f"{path}:{number}: {target}"
                if not os.path.isfile(target_path):
                    broken.append(f"{where}: no file {target_path}")
                elif fragment and target_path.endswith(".md"):
                    if fragment not in heading_ids(target_path):
                        broken.append(f"{where}: no heading #{fragment}")
    for b in broken:
        print(b)
    print(f"book links: {checked} checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
