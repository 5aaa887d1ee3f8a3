//! Multi-label tasks: several labels may apply to one item, and none is a valid answer.
//!
//! A multi-label project (`multi_label = true` in hifi.toml, `hifi init --multi-label`) keeps
//! every decision as one event, like a single-label one: its `label` is the set of labels that
//! apply, written as a JSON array of names in the label set's order (`["a","c"]`, `[]` for
//! none of them). The store maps each name through label-set changes like a single label
//! (schema v8). Predictions hold an independent probability per label that it applies (they do
//! not sum to 1); a label applies when its probability reaches its threshold
//! (`[[labels]] threshold`, default 0.5).
//!
//! Everything here is a pure function over names and numbers.

use crate::config::Config;

/// The threshold a label's probability must reach for the label to apply, unless its
/// `[[labels]]` entry sets one.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// The answer the model gives, is scored on and is trained to give about one label: the
/// label's name, a colon, then `yes` or `no` (`Game: yes`). One per label and item: the
/// prompt is the same for every label, and the answer's first words pick the label.
pub fn answer(label: &str, applies: bool) -> String {
    format!("{label}: {}", if applies { "yes" } else { "no" })
}

/// The system message's closing instructions in a multi-label project (after the label
/// definitions), for `noun` (the item noun, e.g. "ad").
pub fn instruction(noun: &str) -> String {
    format!(
        "Any number of these labels may apply to one {noun}, or none of them. You are asked about one label at a time: answer with that label's name, a colon, and yes if it applies to the {noun} or no if it does not (for example \"{}\")."
        , "label: yes"
    )
}

/// A label set as stored: a JSON array of the names, in the order given.
pub fn encode(labels: &[String]) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "[]".to_string())
}

/// A stored label set, or `None` when `stored` is not a JSON array of strings (a
/// single-label value).
pub fn decode(stored: &str) -> Option<Vec<String>> {
    if !stored.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(stored).ok()
}

/// Whether a stored label is a label set (a JSON array).
pub fn is_set(stored: &str) -> bool {
    decode(stored).is_some()
}

/// Which of `names` are in the stored set `stored`, as one flag per name (false for every name
/// when `stored` is not a set).
pub fn membership(stored: &str, names: &[String]) -> Vec<bool> {
    let set = decode(stored).unwrap_or_default();
    names.iter().map(|n| set.iter().any(|s| s == n)).collect()
}

/// The stored set of the names whose flag is on, in `names`' order.
pub fn from_flags(flags: &[bool], names: &[String]) -> String {
    let on: Vec<String> =
        names.iter().zip(flags).filter(|(_, &f)| f).map(|(n, _)| n.clone()).collect();
    encode(&on)
}

/// A label list as a person or a file gives it: a JSON array of names (`["a","c"]`), or names
/// joined by `sep` (`a,c`; spaces around names are dropped); an empty string or `[]` is the
/// empty set. Every name must be one of `known`, none twice. Returns the names in `known`'s
/// order, else a message naming the offending name.
pub fn parse_list(input: &str, sep: char, known: &[String]) -> Result<Vec<String>, String> {
    let trimmed = input.trim();
    let given: Vec<String> = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed)
            .map_err(|e| format!("not a JSON list of label names ({e})"))?
    } else if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split(sep).map(|s| s.trim().to_string()).collect()
    };
    check_names(&given, known)
}

/// `given` as a set of `known` labels in `known`'s order: an error names an unknown label
/// (and lists the known ones), an empty name or a label given twice.
pub fn check_names(given: &[String], known: &[String]) -> Result<Vec<String>, String> {
    for (i, g) in given.iter().enumerate() {
        if g.is_empty() {
            return Err("an empty label name in the list".to_string());
        }
        if !known.contains(g) {
            return Err(format!(
                "unknown label \"{}\" (labels: {})",
                crate::text::inert(g, false),
                known.join(", ")
            ));
        }
        if given[..i].contains(g) {
            return Err(format!("label \"{g}\" is listed twice"));
        }
    }
    Ok(known.iter().filter(|k| given.contains(k)).cloned().collect())
}

/// Each label's threshold, in label order.
pub fn thresholds(cfg: &Config) -> Vec<f64> {
    cfg.labels.iter().map(|l| l.threshold.unwrap_or(DEFAULT_THRESHOLD)).collect()
}

/// Which labels apply: probability at or above the label's threshold.
pub fn applies(probs: &[f64], thresholds: &[f64]) -> Vec<bool> {
    probs
        .iter()
        .enumerate()
        .map(|(i, &p)| p >= thresholds.get(i).copied().unwrap_or(DEFAULT_THRESHOLD))
        .collect()
}

/// The item's margin: its least certain label's distance from that label's threshold, scaled
/// so that 1 is a certain answer on every label (|p − t| / max(t, 1 − t)).
pub fn margin(probs: &[f64], thresholds: &[f64]) -> f64 {
    probs
        .iter()
        .enumerate()
        .map(|(i, &p)| label_margin(p, thresholds.get(i).copied().unwrap_or(DEFAULT_THRESHOLD)))
        .fold(1.0, f64::min)
}

/// One label's margin: |p − t| / max(t, 1 − t), in [0, 1].
pub fn label_margin(p: f64, t: f64) -> f64 {
    let span = t.max(1.0 - t).max(1e-9);
    ((p - t).abs() / span).clamp(0.0, 1.0)
}

/// The stored set of the labels a prediction says apply.
pub fn predicted_set(probs: &[f64], thresholds: &[f64], names: &[String]) -> String {
    from_flags(&applies(probs, thresholds), names)
}

/// A label set for people: `a, c`, or `(none)` for the empty set.
pub fn display(stored: &str) -> String {
    match decode(stored) {
        Some(set) if set.is_empty() => "(none)".to_string(),
        Some(set) => set.join(", "),
        None => stored.to_string(),
    }
}

/// MASI distance (Passonneau 2006) between two label sets: 1 − J·M, J the Jaccard index and M
/// 1 for equal sets, 2/3 when one is a subset of the other, 1/3 when they overlap otherwise, 0
/// when disjoint. Two empty sets are equal (distance 0).
pub fn masi_distance(a: &[String], b: &[String]) -> f64 {
    let inter = a.iter().filter(|x| b.contains(x)).count();
    let union = a.len() + b.len() - inter;
    if union == 0 {
        return 0.0;
    }
    let jaccard = inter as f64 / union as f64;
    let m = if inter == a.len() && inter == b.len() {
        1.0
    } else if inter == a.len() || inter == b.len() {
        2.0 / 3.0
    } else if inter > 0 {
        1.0 / 3.0
    } else {
        0.0
    };
    1.0 - jaccard * m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_parse_in_label_order_and_refuse_unknown_and_duplicate_names() {
        let known = names(&["a", "b", "c"]);
        assert_eq!(parse_list("c, a", ',', &known).unwrap(), names(&["a", "c"]));
        assert_eq!(parse_list("[\"b\"]", ',', &known).unwrap(), names(&["b"]));
        assert_eq!(parse_list("", ',', &known).unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("[]", ',', &known).unwrap(), Vec::<String>::new());
        assert_eq!(parse_list("a|c", '|', &known).unwrap(), names(&["a", "c"]));
        assert!(parse_list("a,d", ',', &known).unwrap_err().contains("unknown label \"d\""));
        assert!(parse_list("a,a", ',', &known).unwrap_err().contains("twice"));
        assert!(parse_list("a,,b", ',', &known).unwrap_err().contains("empty"));
        assert!(parse_list("[1]", ',', &known).unwrap_err().contains("JSON"));
    }

    #[test]
    fn sets_round_trip_and_single_labels_are_not_sets() {
        let s = encode(&names(&["a", "c"]));
        assert_eq!(s, r#"["a","c"]"#);
        assert_eq!(decode(&s), Some(names(&["a", "c"])));
        assert_eq!(decode("[]"), Some(vec![]));
        assert_eq!(decode("clickbait"), None);
        assert_eq!(membership(&s, &names(&["a", "b", "c"])), vec![true, false, true]);
        assert_eq!(from_flags(&[false, true, true], &names(&["a", "b", "c"])), r#"["b","c"]"#);
        assert_eq!(display("[]"), "(none)");
        assert_eq!(display(&s), "a, c");
    }

    #[test]
    fn thresholds_decide_and_margins_measure_the_least_certain_label() {
        assert_eq!(applies(&[0.5, 0.49, 0.9], &[0.5, 0.5, 0.95]), vec![true, false, false]);
        assert!((label_margin(0.75, 0.5) - 0.5).abs() < 1e-12);
        assert!((label_margin(0.0, 0.8) - 1.0).abs() < 1e-12);
        assert!((margin(&[0.99, 0.6, 0.1], &[0.5, 0.5, 0.5]) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn masi_matches_the_published_values() {
        // Passonneau (2006) / NLTK: {1,2} vs {1,2,3,4}: J = 0.5, M = 2/3 → 0.665 (NLTK rounds
        // M to 0.67).
        let d = masi_distance(&names(&["1", "2"]), &names(&["1", "2", "3", "4"]));
        assert!((d - (1.0 - 0.5 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!(masi_distance(&names(&["a"]), &names(&["a"])), 0.0);
        assert_eq!(masi_distance(&names(&["a"]), &names(&["b"])), 1.0);
        assert_eq!(masi_distance(&[], &[]), 0.0);
        // Overlap without subset: {a,b} vs {b,c}: J = 1/3, M = 1/3.
        let d = masi_distance(&names(&["a", "b"]), &names(&["b", "c"]));
        assert!((d - (1.0 - 1.0 / 9.0)).abs() < 1e-12);
    }
}
