//! The classification prompt, built from the task and the label definitions. The same
//! messages are scored by llama.cpp (through the model's chat template), exported as
//! `chat-jsonl` training data, and used by the LoRA trainer, so that what is trained is what
//! is scored.

use crate::config::Config;

/// Where the item's text goes in the user message; used to split the rendered template
/// into a shared prefix and a per-item suffix.
pub const TEXT_SLOT: &str = "\u{1}HIFI_ITEM_TEXT\u{1}";

/// Where the `i`th few-shot example's text goes in [`system_template`].
pub fn example_slot(i: usize) -> String {
    format!("\u{1}HIFI_EXAMPLE_{i}\u{1}")
}

/// Bytes of data text kept before it is tokenized, for a cut at `max_tokens` tokens: a token
/// rarely spans more than this many bytes, and a huge item then costs nothing past it.
pub fn item_bytes(max_tokens: usize) -> usize {
    max_tokens.saturating_mul(BYTES_PER_TOKEN)
}

const BYTES_PER_TOKEN: usize = 16;

/// The system message: task, label definitions, answer format, optional worked examples.
pub fn system_message(cfg: &Config, examples: &[(String, String)]) -> String {
    system_with(cfg, examples, |_, text| text.trim().to_string())
}

/// [`system_message`] with each example's text replaced by [`example_slot`]: the engine
/// splices the texts in as plain text (`Engine::prompt_parts_with`).
pub fn system_template(cfg: &Config, examples: &[(String, String)]) -> String {
    system_with(cfg, examples, |i, _| example_slot(i))
}

/// The few-shot texts as they go into [`system_template`]'s slots.
pub fn example_texts(examples: &[(String, String)]) -> Vec<&str> {
    examples.iter().map(|(t, _)| t.trim()).collect()
}

fn system_with(
    cfg: &Config,
    examples: &[(String, String)],
    text_of: impl Fn(usize, &str) -> String,
) -> String {
    let mut s = String::new();
    s.push_str(cfg.task.trim());
    s.push_str("\n\nLabels:\n");
    for l in &cfg.labels {
        let def = l.definition.split_whitespace().collect::<Vec<_>>().join(" ");
        if def.is_empty() {
            s.push_str(&format!("- {}\n", l.name));
        } else {
            s.push_str(&format!("- {}: {}\n", l.name, def));
        }
    }
    if cfg.multi_label {
        s.push('\n');
        s.push_str(&crate::multilabel::instruction(&cfg.prompt.item_noun));
    } else {
        s.push_str(&format!(
            "\nAnswer with exactly one label name: {}.",
            or_list(&cfg.label_names())
        ));
    }
    if !examples.is_empty() {
        s.push_str("\n\nExamples:");
        let noun = capitalised(&cfg.prompt.item_noun);
        for (i, (text, label)) in examples.iter().enumerate() {
            let answer = if cfg.multi_label {
                format!("Labels: {}", example_set(label))
            } else {
                format!("Label: {label}")
            };
            s.push_str(&format!("\n\n{noun}:\n{}\n{answer}", text_of(i, text)));
        }
    }
    s
}

/// A multi-label example's stored set as the prompt shows it: `a, c`, or `none`.
fn example_set(stored: &str) -> String {
    match crate::multilabel::decode(stored) {
        Some(set) if set.is_empty() => "none".to_string(),
        Some(set) => set.join(", "),
        None => stored.to_string(),
    }
}

/// The question closing a multi-label project's user message: the same for every label, so
/// every label's answer continues one shared item prefix.
pub const MULTI_LABEL_QUESTION: &str =
    "Which labels apply? Answer about one label as \"label: yes\" or \"label: no\".";

/// The user message for one item. In a multi-label project it closes with
/// [`MULTI_LABEL_QUESTION`], the same whichever label is asked about.
pub fn user_message(cfg: &Config, text: &str) -> String {
    if cfg.multi_label {
        return format!(
            "{}:\n{}\n\n{MULTI_LABEL_QUESTION}",
            capitalised(&cfg.prompt.item_noun),
            text
        );
    }
    format!(
        "{}:\n{}\n\nLabel ({}):",
        capitalised(&cfg.prompt.item_noun),
        text,
        or_list(&cfg.label_names())
    )
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => "Text".into(),
    }
}

/// The `{"messages": [...]}` record TRL, axolotl and Unsloth read.
pub fn chat_record(
    cfg: &Config,
    examples: &[(String, String)],
    text: &str,
    label: &str,
) -> serde_json::Value {
    serde_json::json!({
        "messages": [
            {"role": "system", "content": system_message(cfg, examples)},
            {"role": "user", "content": user_message(cfg, crate::text::cut_bytes(text, item_bytes(cfg.model.max_item_tokens)).0)},
            {"role": "assistant", "content": label},
        ]
    })
}

/// A multi-label project's training records for one item whose label set is `set`: one
/// `{"messages": [...]}` record per label, in label-set order, the same system and user
/// messages as [`chat_record`]'s and the assistant's answer about that label,
/// [`crate::multilabel::answer`]`(label, set contains label)` (`Game: yes`). These are the
/// answers the scorer reads the label's probability from.
pub fn chat_records_multi(
    cfg: &Config,
    examples: &[(String, String)],
    text: &str,
    set: &[String],
) -> Vec<serde_json::Value> {
    let system = system_message(cfg, examples);
    let user =
        user_message(cfg, crate::text::cut_bytes(text, item_bytes(cfg.model.max_item_tokens)).0);
    cfg.labels
        .iter()
        .map(|l| {
            let applies = set.iter().any(|s| s == &l.name);
            serde_json::json!({
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": crate::multilabel::answer(&l.name, applies)},
                ]
            })
        })
        .collect()
}

/// Up to `cfg.prompt.few_shot` expert-labeled **train** items for the prompt, taken round-robin
/// over labels in item order (so the prompt is stable and balanced). Never eval items.
pub fn few_shot_examples(
    store: &crate::store::Store,
    cfg: &Config,
) -> crate::store::Result<Vec<(String, String)>> {
    let want = cfg.prompt.few_shot;
    if want == 0 {
        return Ok(Vec::new());
    }
    let (resolved, _) = store.resolved_labels()?;
    let splits = store.splits()?;
    if cfg.multi_label {
        return few_shot_sets(store, cfg, &resolved, &splits, want);
    }
    let mut per_label: Vec<Vec<i64>> = vec![Vec::new(); cfg.labels.len()];
    for (item, label) in &resolved {
        if splits.get(item) == Some(&crate::store::Split::Train) {
            if let Some(i) = cfg.label_index(label) {
                per_label[i].push(*item);
            }
        }
    }
    let mut out = Vec::new();
    let mut round = 0;
    while out.len() < want && per_label.iter().any(|v| v.len() > round) {
        for (li, items) in per_label.iter().enumerate() {
            if out.len() < want {
                if let Some(&key) = items.get(round) {
                    if let Some(item) = store.item(key)? {
                        // Cut like an item: one huge train item cannot crowd out the prompt.
                        let (text, _) = crate::text::cut_bytes(
                            &item.text,
                            item_bytes(cfg.model.max_item_tokens),
                        );
                        out.push((text.to_string(), cfg.labels[li].name.clone()));
                    }
                }
            }
        }
        round += 1;
    }
    Ok(out)
}

/// [`few_shot_examples`] in a multi-label project: round-robin over each label's train items
/// (the items whose set holds it) and then the items whose set is empty, in item order, each
/// item once; an example's label is its stored set.
fn few_shot_sets(
    store: &crate::store::Store,
    cfg: &Config,
    resolved: &[(i64, String)],
    splits: &std::collections::HashMap<i64, crate::store::Split>,
    want: usize,
) -> crate::store::Result<Vec<(String, String)>> {
    // One bucket per label, then one for the empty set.
    let mut buckets: Vec<Vec<(i64, &str)>> = vec![Vec::new(); cfg.labels.len() + 1];
    for (item, stored) in resolved {
        if splits.get(item) != Some(&crate::store::Split::Train) {
            continue;
        }
        let Some(set) = crate::multilabel::decode(stored) else { continue };
        if set.is_empty() {
            buckets[cfg.labels.len()].push((*item, stored));
        }
        for (li, l) in cfg.labels.iter().enumerate() {
            if set.contains(&l.name) {
                buckets[li].push((*item, stored));
            }
        }
    }
    let mut out = Vec::new();
    let mut taken = std::collections::HashSet::new();
    let mut next = vec![0usize; buckets.len()];
    while out.len() < want && next.iter().zip(&buckets).any(|(n, b)| *n < b.len()) {
        for (b, bucket) in buckets.iter().enumerate() {
            if out.len() >= want {
                break;
            }
            // This bucket's next item not yet taken by another label's turn.
            while let Some(&(key, stored)) = bucket.get(next[b]) {
                next[b] += 1;
                if taken.insert(key) {
                    if let Some(item) = store.item(key)? {
                        let (text, _) = crate::text::cut_bytes(
                            &item.text,
                            item_bytes(cfg.model.max_item_tokens),
                        );
                        out.push((text.to_string(), stored.to_string()));
                    }
                    break;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LabelDef, ModelConfig, PromptConfig, SplitConfig};

    fn cfg() -> Config {
        Config {
            task: "Decide whether an online ad is clickbait.".into(),
            multi_label: false,
            labels: vec![
                LabelDef::new("clickbait", "Withholds\n  what it is."),
                LabelDef::new("benign", "Says what it is."),
            ],
            model: ModelConfig::default(),
            split: SplitConfig::default(),
            review: Default::default(),
            mine: Default::default(),
            stop: Default::default(),
            prompt: PromptConfig { few_shot: 0, item_noun: "ad".into(), calibrate: true },
            train: Default::default(),
            backend: Default::default(),
        }
    }

    #[test]
    fn prompt_names_every_label_and_definition() {
        let s = system_message(&cfg(), &[]);
        assert!(s.contains("- clickbait: Withholds what it is.\n"));
        assert!(s.contains("- benign: Says what it is.\n"));
        assert!(s.ends_with("one label name: clickbait or benign."));
        assert_eq!(user_message(&cfg(), "Buy now"), "Ad:\nBuy now\n\nLabel (clickbait or benign):");
    }

    #[test]
    fn chat_record_ends_with_the_label() {
        let r = chat_record(&cfg(), &[("Old ad".into(), "benign".into())], "New ad", "clickbait");
        let m = r["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert!(m[0]["content"].as_str().unwrap().contains("Ad:\nOld ad\nLabel: benign"));
        assert_eq!(m[2]["content"], "clickbait");
    }

    #[test]
    fn the_template_has_a_slot_where_each_example_goes() {
        let ex = [("Old <|im_end|> ad ".to_string(), "benign".to_string())];
        let t = system_template(&cfg(), &ex);
        assert!(
            t.contains(&format!("Ad:\n{}\nLabel: benign", example_slot(0)))
                && !t.contains("im_end"),
            "{t}"
        );
        assert_eq!(t.replace(&example_slot(0), example_texts(&ex)[0]), system_message(&cfg(), &ex));
    }

    fn multi() -> Config {
        let mut c = cfg();
        c.multi_label = true;
        c.labels.push(LabelDef::new("urgent", "Pushes to act now."));
        c
    }

    #[test]
    fn a_multi_label_prompt_asks_about_one_label_at_a_time() {
        let c = multi();
        let s = system_message(&c, &[("Old ad".into(), r#"["clickbait","urgent"]"#.into())]);
        assert!(s.contains(&crate::multilabel::instruction("ad")), "{s}");
        assert!(!s.contains("exactly one label"), "{s}");
        assert!(s.contains("Ad:\nOld ad\nLabels: clickbait, urgent"), "{s}");
        let none = system_message(&c, &[("Old ad".into(), "[]".into())]);
        assert!(none.contains("Ad:\nOld ad\nLabels: none"), "{none}");
        let u = user_message(&c, "Buy now");
        assert_eq!(u, format!("Ad:\nBuy now\n\n{MULTI_LABEL_QUESTION}"));
        // The single-label prompt differs, so its fingerprint does too.
        assert_ne!(system_message(&cfg(), &[]), system_message(&c, &[]));
    }

    #[test]
    fn multi_label_chat_records_answer_each_label_yes_or_no() {
        let c = multi();
        let set = vec!["urgent".to_string()];
        let rs = chat_records_multi(&c, &[], "New ad", &set);
        let answers: Vec<&str> =
            rs.iter().map(|r| r["messages"][2]["content"].as_str().unwrap()).collect();
        assert_eq!(answers, ["clickbait: no", "benign: no", "urgent: yes"]);
        for r in &rs {
            assert_eq!(r["messages"][0]["content"], system_message(&c, &[]));
            assert_eq!(r["messages"][1]["content"], user_message(&c, "New ad"));
        }
        assert!(chat_records_multi(&c, &[], "x", &[])
            .iter()
            .all(|r| r["messages"][2]["content"].as_str().unwrap().ends_with(": no")));
    }
}
