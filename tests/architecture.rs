//! The shape of the code, checked on its source: no module cycles, the CLI is a client (nothing
//! else imports it), and the store owns every SQL statement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of src/ (a file; `mod.rs` names its folder) with its source, tests cut off.
fn modules() -> BTreeMap<Module, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut m: Module = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        if m.last().is_some_and(|l| l == "mod") {
            m.pop();
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let code: String =
            code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        out.insert(m, code);
    }
    out
}

/// The longest known module a path (`crate::a::b::C`, `super::x`, `self::y`) written in `from` names.
fn resolve(mods: &BTreeMap<Module, String>, from: &Module, path: &[&str]) -> Option<Module> {
    let (mut base, rest): (Module, &[&str]) = match *path.first()? {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (from.clone(), &path[1..]),
        "super" => {
            let mut b = from.clone();
            b.pop();
            let mut r = &path[1..];
            while r.first() == Some(&"super") {
                b.pop();
                r = &r[1..];
            }
            (b, r)
        }
        _ => return None,
    };
    let mut best = None;
    for seg in rest {
        base.push(seg.to_string());
        if mods.contains_key(&base) {
            best = Some(base.clone());
        }
    }
    best
}

/// Which modules each module refers to, by `crate::`, `super::` and `self::` paths (grouped
/// imports `use super::{a, b}` included).
fn edges(mods: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut out: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (m, code) in mods {
        let b = code.as_bytes();
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut i = 0;
        while i < b.len() {
            let starts =
                ["crate::", "super::", "self::"].iter().any(|p| b[i..].starts_with(p.as_bytes()))
                    && (i == 0 || !ident(b[i - 1]));
            if !starts {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < b.len() && (ident(b[j]) || b[j] == b':') {
                j += 1;
            }
            let path: Vec<&str> = code[i..j].split("::").filter(|s| !s.is_empty()).collect();
            let mut targets = vec![resolve(mods, m, &path)];
            if code[j..].starts_with('{') {
                let end = code[j..].find('}').map_or(j, |k| j + k);
                for name in code[j + 1..end]
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .filter(|s| !s.is_empty())
                {
                    let mut p = path.clone();
                    p.push(name);
                    targets.push(resolve(mods, m, &p));
                }
            }
            for t in targets.into_iter().flatten() {
                if &t != m {
                    out.entry(m.clone()).or_default().insert(t);
                }
            }
            i = j.max(i + 1);
        }
    }
    out
}

/// Strongly connected components with more than one member (Tarjan).
fn cycles(g: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct T<'g> {
        g: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<Module, usize>,
        low: BTreeMap<Module, usize>,
        stack: Vec<Module>,
        on: BTreeSet<Module>,
        out: Vec<Vec<Module>>,
    }
    impl T<'_> {
        fn visit(&mut self, v: &Module) {
            let n = self.index.len();
            self.index.insert(v.clone(), n);
            self.low.insert(v.clone(), n);
            self.stack.push(v.clone());
            self.on.insert(v.clone());
            for w in self.g.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v.clone(), l);
                } else if self.on.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v.clone(), l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(&w);
                    let done = &w == v;
                    comp.push(w);
                    if done {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.out
}

fn show(c: &[Module]) -> String {
    c.iter()
        .map(|m| if m.is_empty() { "crate".to_string() } else { m.join("/") })
        .collect::<Vec<_>>()
        .join(" ↔ ")
}

#[test]
fn modules_form_no_cycles_at_the_top_or_among_siblings() {
    let mods = modules();
    let e = edges(&mods);
    assert!(
        e.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the scan found too few references to mean anything: {}",
        e.len()
    );
    // Top level: src/<a> → src/<b>.
    let mut top: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    // Siblings: a/b/x → a/b/y, named at the level where the paths part.
    let mut sib: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (a, bs) in &e {
        for b in bs {
            let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            if common < a.len() && common < b.len() {
                let (x, y) = (a[..=common].to_vec(), b[..=common].to_vec());
                if common == 0 {
                    top.entry(x).or_default().insert(y);
                } else {
                    sib.entry(x).or_default().insert(y);
                }
            }
        }
    }
    let found: Vec<String> =
        cycles(&top).iter().chain(cycles(&sib).iter()).map(|c| show(c)).collect();
    assert!(found.is_empty(), "module cycles: {found:#?}");
}

#[test]
fn only_the_binary_uses_the_cli_and_only_the_store_speaks_sql() {
    let mods = modules();
    let e = edges(&mods);
    let cli: Module = vec!["cli".into()];
    let users: Vec<String> = e
        .iter()
        .filter(|(m, to)| !m.starts_with(&cli) && to.iter().any(|t| t.starts_with(&cli)))
        .map(|(m, _)| m.join("/"))
        .collect();
    assert!(users.is_empty(), "the library imports the CLI: {users:?}");
    let store: Module = vec!["store".into()];
    let sql: Vec<String> = mods
        .iter()
        .filter(|(m, _)| !m.starts_with(&store))
        .filter(|(_, code)| {
            ["rusqlite::", ".prepare(", ".query_row(", ".execute("].iter().any(|s| code.contains(s))
        })
        .map(|(m, _)| m.join("/"))
        .collect();
    assert!(sql.is_empty(), "SQL outside src/store: {sql:?}");
    // The scan itself sees the references it is meant to see.
    assert!(
        e[&vec!["tui".to_string(), "runtime".to_string()]].contains(&vec!["pipeline".to_string()])
    );
}
