#!/usr/bin/env python3
"""A multi-label set from Debian's AppStream metadata (the dep11 Components file that
`apt-get update` fetches): each desktop application with its freedesktop.org main categories.

    python3 scripts/appstream.py Components-amd64.yml.gz OUT_DIR [N]

writes OUT_DIR/items.csv (id, text = "Name: summary. description", gold = the categories
joined by "|") for a seeded sample of N applications (default 2000), and OUT_DIR/labels.toml
(a multi-label task for `hifi init --from`). Needs PyYAML. Used by scripts/eval-data.sh (the
curation harness) and scripts/setup.sh (the multi-label tests' set).
"""
import csv, gzip, html, os, random, re, sys
import yaml
src, dst = sys.argv[1], sys.argv[2]
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
# freedesktop.org's main categories (Desktop Menu Specification), Audio and Video folded in;
# Settings left out (20 of 2,000 applications: too rare to measure a κ on).
defs = {
    "AudioVideo": "Plays, records or edits audio or video: media players, music and video editors, sound tools.",
    "Development": "For making software: IDEs, editors for code, compilers, debuggers, version control, build tools.",
    "Education": "For teaching or learning: educational software, learning languages, typing tutors, quizzes.",
    "Game": "A game: arcade, puzzle, board, card, strategy, role-playing, sports or other games.",
    "Graphics": "Views, creates or edits images: drawing, painting, photography, 3D modelling, scanning, image viewers.",
    "Network": "Uses the network or internet: web browsers, chat, email, file transfer, news, remote access.",
    "Office": "Office work: word processors, spreadsheets, presentations, calendars, contacts, finance, documents.",
    "Science": "Science and engineering: mathematics, astronomy, chemistry, physics, biology, data analysis.",
    "System": "System tools: terminals, file managers, system monitors, package managers, administration.",
    "Utility": "Small desktop utilities: calculators, archivers, text editors, clocks, clipboard and accessibility tools.",
}
fold = {"Audio": "AudioVideo", "Video": "AudioVideo"}
def plain(s):
    s = re.sub(r"<[^>]+>", " ", s or "")
    return re.sub(r"\s+", " ", html.unescape(s)).strip()
rows = []
with gzip.open(src, "rt", encoding="utf-8") as fh:
    for doc in yaml.load_all(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if not isinstance(doc, dict) or doc.get("Type") != "desktop-application":
            continue
        cats = []
        for c in doc.get("Categories") or []:
            c = fold.get(c, c)
            if c in defs and c not in cats:
                cats.append(c)
        name = (doc.get("Name") or {}).get("C")
        summary = (doc.get("Summary") or {}).get("C")
        if not cats or not name or not summary:
            continue
        desc = plain((doc.get("Description") or {}).get("C"))
        text = f"{plain(name)}: {plain(summary)}."
        if desc:
            text += " " + desc[:400].rsplit(" ", 1)[0]
        order = [c for c in defs if c in cats]
        rows.append((f"app-{doc['ID']}", text, "|".join(order)))
rows = list({r[0]: r for r in rows}.values())
os.makedirs(dst, exist_ok=True)
random.Random(19).shuffle(rows)
rows = sorted(rows[:limit])
with open(os.path.join(dst, "items.csv"), "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["id", "text", "gold"])
    w.writerows(rows)
with open(os.path.join(dst, "labels.toml"), "w", encoding="utf-8") as fh:
    fh.write('task = "Decide which menu categories a desktop application belongs in, from its name and description."\n')
    fh.write('item_noun = "application"\nmulti_label = true\n\n')
    for name, d in defs.items():
        fh.write(f'[[labels]]\nname = "{name}"\ndefinition = "{d}"\n\n')
n = len(rows)
per = sum(len(r[2].split("|")) for r in rows) / max(n, 1)
counts = {c: sum(c in r[2].split("|") for r in rows) for c in defs}
print(f"appstream: {n} applications, {per:.2f} categories each; " + ", ".join(f"{c} {k}" for c, k in counts.items()), file=sys.stderr)
