#!/usr/bin/env python3
"""Prints docs/editor.md's vocabulary table from src/imaging/editor_vocab.c, so the
document cannot drift from the table: the spoken phrases (editor_vocabulary[], also the
speech grammar) and the typed-only ones (editor_text_phrases[]).
    scripts/vocab_table.py > /tmp/table.md"""
import pathlib
import re

src = (pathlib.Path(__file__).resolve().parent.parent / "src/imaging/editor_vocab.c").read_text()
table = src[src.index("const struct editor_word editor_vocabulary[]"):]
table = table[:table.index("\n};")]
rows = {}
order = []
for m in re.finditer(r"\[(EDIT_\w+)\]\s*=\s*\{\s*EDIT_\w+,\s*((?:\"[^\"]*\"\s*)+),\s*((?:\"[^\"]*\"\s*)+),"
                     r"\s*\{(.*?)NULL\}", table, re.S):
    kind, name, desc, phrases = m.groups()
    join = lambda s: "".join(re.findall(r'"([^"]*)"', s))
    rows[kind] = [join(name), join(desc), re.findall(r'"([^"]*)"', phrases), []]
    order.append(kind)
typed = src[src.index("const struct editor_phrase editor_text_phrases[]"):]
typed = typed[:typed.index("\n};")]
for kind, phrase in re.findall(r"\{(EDIT_\w+),\s*\"([^\"]*)\"\}", typed):
    rows[kind][3].append(phrase)
print("| Edit | What it does | Spoken and typed phrases | Typed only |")
print("|---|---|---|---|")
for k in order:
    name, desc, spoken, only = rows[k]
    print(f"| **{name}** | {desc} | {', '.join(spoken)} | {', '.join(only)} |")
