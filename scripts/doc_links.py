#!/usr/bin/env python3
"""Checks (and, with --fix, repairs) the links in tl's Markdown pages.

Every relative link must name a file or folder that exists. A link to a line,
written as

    [`backward` engine/autograd.cpp:97](../engine/autograd.cpp#L97)

must also land on that line: the line must exist, must contain the code in
backticks (`backward`), and the `path:line` in the text must agree with the
target. docs/WALKTHROUGH.md is held to the stricter rule that every link into
the code has this form, so a reader following it from start to end always
lands on the line it names.

    scripts/doc_links.py           # check; exit 1 and list the broken links
    scripts/doc_links.py --fix     # move each line link to the nearest line
                                   # that holds its code, then check

Run by ctest as DocLinks. Plain Python 3, no packages.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/**/*.md", "bench/*.md", "lab/*.md"]
STRICT_PAGES = {"docs/WALKTHROUGH.md"}
CODE_SUFFIXES = {".h", ".cpp", ".cu", ".cuh", ".py", ".sh", ".cmake", ".txt"}

LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
LINE_ANCHOR = re.compile(r"^(.*)#L(\d+)(?:-L?(\d+))?$")
CODE_SPAN = re.compile(r"`([^`]+)`")
TEXT_PLACE = re.compile(r"([\w./-]+):(\d+)")


def set_root(root):
    global ROOT
    ROOT = root


def pages():
    seen = set()
    for pattern in PAGES:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and path not in seen:
                seen.add(path)
                yield path


def code_needles(text):
    """The code named in a link's text: `name` and, for `name()`, also `name`."""
    needles = []
    for span in CODE_SPAN.findall(text):
        needles.append(span)
        if span.endswith("()"):
            needles.append(span[:-2])
    return needles


def line_holds(line, needles):
    return any(n in line for n in needles)


def check_page(page, fix):
    """Returns (problems, new_text or None)."""
    rel_page = page.relative_to(ROOT).as_posix()
    strict = rel_page in STRICT_PAGES
    text = page.read_text(encoding="utf-8")
    problems = []
    replacements = []  # (start, end, new link)
    in_fence = False
    offset = 0
    for raw_line in text.splitlines(keepends=True):
        if raw_line.lstrip().startswith("```"):
            in_fence = not in_fence
        if not in_fence:
            for m in LINK.finditer(raw_line):
                result = check_link(page, rel_page, strict, m.group(1), m.group(2), fix)
                where = f"{rel_page}:{text.count(chr(10), 0, offset) + 1}"
                if isinstance(result, Repair):
                    replacements.append((offset + m.start(), offset + m.end(), result.link))
                elif result is not None:
                    problems.append(f"{where}: {result}")
        offset += len(raw_line)
    if not replacements:
        return problems, None
    out = text
    for start, end, new in reversed(replacements):
        out = out[:start] + new + out[end:]
    return problems, out


def check_link(page, rel_page, strict, link_text, target, fix):
    """None when fine, a string saying what is broken, or a Repair (--fix)."""
    if re.match(r"^[a-z]+:", target) or target.startswith("#"):
        return None  # web addresses and anchors within the page
    anchor = LINE_ANCHOR.match(target)
    path_part = anchor.group(1) if anchor else target.split("#", 1)[0]
    resolved = (page.parent / path_part).resolve()
    try:
        rel_target = resolved.relative_to(ROOT).as_posix()
    except ValueError:
        return f"[{link_text}]({target}) points outside the repository"
    if not resolved.exists():
        return f"[{link_text}]({target}): {rel_target} does not exist"
    is_code = resolved.is_file() and resolved.suffix in CODE_SUFFIXES
    if not anchor:
        if strict and is_code:
            return (f"[{link_text}]({target}): a link into the code here must name a line "
                    f"([`name` {rel_target}:N]({path_part}#LN))")
        return None

    line_no = int(anchor.group(2))
    lines = resolved.read_text(encoding="utf-8", errors="replace").splitlines()
    needles = code_needles(link_text)
    if strict and not needles:
        return (f"[{link_text}]({target}): name the code the line holds in backticks, "
                f"e.g. [`name` {rel_target}:{line_no}]")
    places = TEXT_PLACE.findall(link_text)
    for place_path, place_line in places:
        if not rel_target.endswith(place_path):
            return f"[{link_text}]({target}): the text names {place_path}, the link {rel_target}"
        if int(place_line) != line_no and not fix:
            return f"[{link_text}]({target}): the text says line {place_line}, the link line {line_no}"
    if strict and not places:
        return f"[{link_text}]({target}): write the place in the text too ({rel_target}:{line_no})"

    if 1 <= line_no <= len(lines) and (not needles or line_holds(lines[line_no - 1], needles)):
        if places and any(int(p[1]) != line_no for p in places):
            return rebuild(link_text, path_part, line_no, anchor)
        return None
    if not fix:
        if line_no > len(lines):
            return f"[{link_text}]({target}): {rel_target} has only {len(lines)} lines"
        return (f"[{link_text}]({target}): line {line_no} of {rel_target} does not contain "
                f"{' or '.join(repr(n) for n in needles)} (run scripts/doc_links.py --fix)")
    candidates = [i + 1 for i, l in enumerate(lines) if line_holds(l, needles)]
    if not candidates:
        return f"[{link_text}]({target}): {rel_target} no longer contains {needles[0]!r}"
    best = min(candidates, key=lambda n: abs(n - line_no))
    return rebuild(link_text, path_part, best, anchor)


class Repair:
    """A link rewritten by --fix."""

    def __init__(self, link):
        self.link = link


def rebuild(link_text, path_part, line_no, anchor):
    new_text = TEXT_PLACE.sub(lambda m: f"{m.group(1)}:{line_no}", link_text)
    end = ""
    if anchor.group(3):  # a range keeps its length
        end = f"-L{line_no + int(anchor.group(3)) - int(anchor.group(2))}"
    return Repair(f"[{new_text}]({path_part}#L{line_no}{end})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true",
                        help="move line links to the nearest line holding their code")
    parser.add_argument("--root", default=str(ROOT),
                        help="the repository to check (default: this one; the tests use a fixture)")
    args = parser.parse_args()
    set_root(pathlib.Path(args.root).resolve())
    problems, checked = [], 0
    for page in pages():
        checked += 1
        page_problems, new_text = check_page(page, args.fix)
        if new_text is not None and args.fix:
            page.write_text(new_text, encoding="utf-8")
            print(f"updated {page.relative_to(ROOT).as_posix()}")
            page_problems, _ = check_page(page, False)
        problems += page_problems
    if checked == 0:
        print("doc_links: no pages found: nothing was checked", file=sys.stderr)
        return 1
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"doc_links: {len(problems)} broken link(s) in {checked} pages", file=sys.stderr)
        return 1
    print(f"doc_links: {checked} pages, every link lands")
    return 0


if __name__ == "__main__":
    sys.exit(main())
