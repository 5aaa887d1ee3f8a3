"""Writes arith.jsonl: short arithmetic questions with reference answers, for trying
`hifi select limo` and `hifi self-train` (prompts with a checkable answer).

Seeded and templated: every question, answer and candidate response comes from the
templates below. About a third of the prompts carry two candidate responses (a bare answer
and a worked one), and a few are reworded near-duplicates of others.
"""
import json
import random

rng = random.Random(7)
ASK = [
    "What is {a} {op} {b}? Answer with a number.",
    "Compute {a} {op} {b}. Give only the number.",
    "Calculate {a} {op} {b} and reply with the result.",
]
WORD = [
    ("Sam has {a} apples and buys {b} more. How many apples does Sam have now?", "+"),
    ("A shelf holds {a} books. {b} are taken away. How many books are left?", "-"),
    ("There are {a} boxes with {b} pens in each. How many pens are there?", "*"),
]


def solve(a, op, b):
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def worked(a, op, b, r):
    name = {"+": "add", "-": "subtract", "*": "multiply"}[op]
    check = {"+": f"{r} - {b} = {a}", "-": f"{r} + {b} = {a}", "*": f"{r} / {b} = {a}" if b else f"{a} * 0 = 0"}[op]
    return (f"First, {name} the numbers: {a} {op} {b}. Since {a} {op} {b} = {r}, the result is {r}. "
            f"Let me check: {check}, so it is correct. Therefore the answer is {r}.")


rows = []
seen = set()
n = 0
while len(rows) < 180:
    kind = rng.random()
    if kind < 0.35:
        a, b, op = rng.randint(1, 9), rng.randint(1, 9), "+"
    elif kind < 0.6:
        a, b, op = rng.randint(10, 99), rng.randint(10, 99), rng.choice("+-")
    elif kind < 0.8:
        a, b, op = rng.randint(2, 12), rng.randint(2, 12), "*"
    else:
        tmpl, op = rng.choice(WORD)
        a, b = rng.randint(5, 40), rng.randint(2, 9)
        if op == "-" and b > a:
            a, b = b, a
        text = tmpl.format(a=a, b=b)
    if kind < 0.8:
        text = rng.choice(ASK).format(a=a, op=op, b=b)
    if text in seen:
        continue
    seen.add(text)
    n += 1
    r = solve(a, op, b)
    row = {"id": f"q-{n:03d}", "text": text, "reference": str(r)}
    if rng.random() < 0.35:
        row["responses"] = [str(r), worked(a, op, b, r)]
    rows.append(row)
    if rng.random() < 0.05:
        # A near-duplicate: the same question with a trailing courtesy.
        n += 1
        rows.append({"id": f"q-{n:03d}", "text": text + " Thanks!", "reference": str(r)})

with open("arith.jsonl", "w") as f:
    for row in rows:
        f.write(json.dumps(row) + "\n")
print(len(rows), "prompts")
