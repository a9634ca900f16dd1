#!/usr/bin/env python3
"""The crate's module graph from its `crate::` paths, and a check that it has no cycle.

Each file under src/ belongs to a top-level module (src/writer/jsonl.rs to `writer`,
src/chain.rs to `chain`); every `crate::name` it mentions in code (not in comments or strings) is
an edge to `name`. lib.rs (the root, which re-exports) and the binary's files (src/main.rs,
src/bin/) are left out: they sit above every module. A cycle between modules makes the check
fail; `--dot` prints the graph.

    python3 scripts/module_graph.py          # exit 1 and the cycle when there is one
    python3 scripts/module_graph.py --dot    # the graph, for docs/ARCHITECTURE.md
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def strip_comments_and_strings(text):
    """Removes comments, string and char literals, so a path in a doc comment is no edge."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\[^']{1,9}|[^\\'])'", text[i:i + 12]):
            # A char literal ('a', '\n', '\u{1F600}'); a lifetime ('a) has no closing quote.
            m = re.match(r"'(\\[^']{1,9}|[^\\'])'", text[i:i + 12])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def brace_items(s):
    """The top-level names of a `{a, b::c, d::{e}}` group (s starts after the `{`)."""
    names, depth, cur = [], 0, ""
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(cur)
            cur = ""
            continue
        if depth == 0:
            cur += ch
    names.append(cur)
    out = []
    for name in names:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", name)
        if m:
            out.append(m.group(1))
    return out


def module_of(rel):
    parts = rel.split(os.sep)
    if parts[0] in ("lib.rs", "main.rs", "bin"):
        return None
    return parts[0][:-3] if parts[0].endswith(".rs") else parts[0]


def graph():
    modules = set()
    for entry in os.listdir(SRC):
        m = module_of(entry)
        if m and (entry.endswith(".rs") or os.path.isdir(os.path.join(SRC, entry))):
            modules.add(m)
    edges = {m: set() for m in modules}
    # `crate::ChainedEntry` goes through the root's re-exports: follow them to their module.
    reexported = {}
    lib = strip_comments_and_strings(open(os.path.join(SRC, "lib.rs"), encoding="utf-8").read())
    for m in re.finditer(r"pub\s+use\s+([a-z_][a-z0-9_]*)::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", lib):
        items = brace_items(m.group(2)[1:]) if m.group(2).startswith("{") else [m.group(2)]
        for item in items:
            reexported[item] = m.group(1)
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            me = module_of(os.path.relpath(path, SRC))
            if me is None:
                continue
            code = strip_comments_and_strings(open(path, encoding="utf-8").read())
            for m in re.finditer(r"(?<![$\w])crate::(\{|[A-Za-z_][A-Za-z0-9_]*)", code):
                targets = brace_items(code[m.end():]) if m.group(1) == "{" else [m.group(1)]
                for t in targets:
                    t = reexported.get(t, t)
                    if t in modules and t != me:
                        edges[me].add(t)
    return edges


def find_cycle(edges):
    color, stack = {}, []

    def visit(u):
        color[u] = 1
        stack.append(u)
        for v in sorted(edges[u]):
            if color.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in color:
                c = visit(v)
                if c:
                    return c
        stack.pop()
        color[u] = 2
        return None

    for u in sorted(edges):
        if u not in color:
            c = visit(u)
            if c:
                return c
    return None


def main():
    edges = graph()
    if "--dot" in sys.argv:
        print("digraph acttrace {")
        for u in sorted(edges):
            for v in sorted(edges[u]):
                print(f'  "{u}" -> "{v}";')
        print("}")
        return 0
    if "--list" in sys.argv:
        for u in sorted(edges):
            print(f"{u} -> {', '.join(sorted(edges[u])) or '(leaf)'}")
        return 0
    cycle = find_cycle(edges)
    if cycle:
        print("module cycle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print(f"no module cycle ({len(edges)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
