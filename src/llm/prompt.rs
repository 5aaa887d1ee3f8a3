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
    s.push_str(&format!("\nAnswer with exactly one label name: {}.", or_list(&cfg.label_names())));
    if !examples.is_empty() {
        s.push_str("\n\nExamples:");
        let noun = capitalised(&cfg.prompt.item_noun);
        for (i, (text, label)) in examples.iter().enumerate() {
            s.push_str(&format!("\n\n{noun}:\n{}\nLabel: {label}", text_of(i, text)));
        }
    }
    s
}

/// The user message for one item.
pub fn user_message(cfg: &Config, text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LabelDef, ModelConfig, PromptConfig, SplitConfig};

    fn cfg() -> Config {
        Config {
            task: "Decide whether an online ad is clickbait.".into(),
            labels: vec![
                LabelDef {
                    name: "clickbait".into(),
                    definition: "Withholds\n  what it is.".into(),
                },
                LabelDef { name: "benign".into(), definition: "Says what it is.".into() },
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
}
