//! Fine-tuning (SFT) files: OpenAI chat, Alpaca and ShareGPT records, each read as a prompt
//! (the item's text), the chat messages before it (the item's context) and a candidate
//! response; which format a JSONL file holds, from its first record. Records with the same
//! prompt are one item with several candidates ([`Groups`]).
//!
//! Parsing is pure: what is wrong with a record comes back as a [`Bad`] (a field and what),
//! which the import places by file and line. Text is kept as it is (escape codes included:
//! the screens render them inert).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::records::json_kind;
use super::Format;
use crate::store::{NewItem, NewResponse};

/// The field of a prompt pool that holds candidate responses (a string or a list of strings).
pub const POOL_RESPONSES: &str = "responses";

/// Content parts given as a list (`[{"type": "text", "text": …}, …]`) are joined with this.
pub const PART_SEPARATOR: &str = "\n";

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

/// One record read as a prompt with what came before it and, when it has one, its response.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The messages before the prompt: system message, earlier turns.
    pub context: Vec<Message>,
    /// The last user turn (the item's text).
    pub prompt: String,
    /// The final assistant turn; `None` for a prompt with no candidate.
    pub response: Option<String>,
}

impl Example {
    /// The context as the store keeps it: a JSON array of `{role, content}`; `None` when empty.
    pub fn context_json(&self) -> Option<String> {
        context_json(&self.context)
    }
}

/// `messages` as a JSON array of `{role, content}`; `None` when there are none.
pub fn context_json(messages: &[Message]) -> Option<String> {
    if messages.is_empty() {
        return None;
    }
    let list: Vec<Value> =
        messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect();
    Some(Value::Array(list).to_string())
}

/// What is wrong with a record: the field (`messages[2].role`), when there is one, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    pub field: Option<String>,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> Bad {
    Bad { field: Some(field.into()), message: message.into() }
}

/// The fields a format reads; a record's other fields are its item's meta (id and gold
/// aside).
pub fn consumed(format: Format) -> &'static [&'static str] {
    match format {
        Format::Chat => &["messages"],
        Format::Alpaca => &["instruction", "input", "output", "system", "history"],
        Format::ShareGpt => &["conversations", "system"],
        Format::Csv | Format::Jsonl | Format::Parquet => &[],
    }
}

/// The fields [`detect`] tells the formats by (besides the text field).
pub const FORMAT_FIELDS: &[&str] = &["messages", "conversations", "instruction", "output"];

/// The format a record looks like: `Some(Chat | Alpaca | ShareGpt)`, or `None` for a prompt
/// pool. `messages` (an array) makes it chat, `conversations` (an array) ShareGPT,
/// `instruction` with `output` Alpaca. A record without `text_field` that has one of those
/// fields in another shape is taken as that format too, so that its problem is named.
pub fn detect(fields: &Map<String, Value>, text_field: &str) -> Option<Format> {
    let array = |k: &str| matches!(fields.get(k), Some(Value::Array(_)));
    let has = |k: &str| fields.contains_key(k);
    if array("messages") {
        Some(Format::Chat)
    } else if array("conversations") {
        Some(Format::ShareGpt)
    } else if has("instruction") && has("output") {
        Some(Format::Alpaca)
    } else if has(text_field) {
        None
    } else if has("messages") {
        Some(Format::Chat)
    } else if has("conversations") {
        Some(Format::ShareGpt)
    } else if has("instruction") || has("output") {
        Some(Format::Alpaca)
    } else {
        None
    }
}

/// What a JSONL file holds, from its first non-blank record: `Format::Jsonl` for a prompt
/// pool (also when that record does not parse: the reader names the problem), with the line
/// of that record (1 for an empty file).
pub fn sniff(path: &Path, text_field: &str) -> std::io::Result<(Format, u64)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok((Format::Jsonl, 1));
        }
        line += 1;
        let bytes =
            if line == 1 { buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf) } else { &buf[..] };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let format = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => detect(&fields, text_field).unwrap_or(Format::Jsonl),
            _ => Format::Jsonl,
        };
        return Ok((format, line));
    }
}

fn describe(format: Format) -> &'static str {
    match format {
        Format::Chat => "a chat record (`messages`)",
        Format::Alpaca => "an alpaca record (`instruction`, `output`)",
        Format::ShareGpt => "a sharegpt record (`conversations`)",
        Format::Csv | Format::Jsonl | Format::Parquet => "a prompt-pool record (`text`)",
    }
}

/// A record of another format than its file's (`file`, detected from the record on line
/// `at`): what to say, or `None` when it is not. A record that looks like no format at all is
/// left to the format's own checks (which name the missing field).
pub fn mixed(
    file: Format,
    at: u64,
    fields: &Map<String, Value>,
    text_field: &str,
) -> Option<String> {
    let has_text = fields.contains_key(text_field);
    let this = match detect(fields, text_field) {
        Some(f) => f,
        None if has_text => Format::Jsonl,
        None => return None,
    };
    let pool = |f: Format| matches!(f, Format::Jsonl | Format::Csv | Format::Parquet);
    if this == file || (pool(this) && pool(file)) || (pool(file) && has_text) {
        return None;
    }
    let kind = if pool(file) { "prompt-pool" } else { file.name() };
    Some(format!(
        "{} in a {kind} file (as its first record, on line {at}, shows); one file holds one format",
        describe(this)
    ))
}

/// Read one record of an SFT `format` (chat, alpaca or sharegpt).
pub fn parse(format: Format, fields: &Map<String, Value>) -> Result<Example, Bad> {
    match format {
        Format::Chat => parse_chat(fields),
        Format::Alpaca => parse_alpaca(fields),
        Format::ShareGpt => parse_sharegpt(fields),
        Format::Csv | Format::Jsonl | Format::Parquet => {
            Err(Bad { field: None, message: "not a chat, alpaca or sharegpt record".into() })
        }
    }
}

/// A message on its way into an [`Example`], with the field it came from.
struct Turn {
    role: Role,
    content: String,
    /// `messages[3]`
    at: String,
}

fn list<'a>(fields: &'a Map<String, Value>, name: &str, what: &str) -> Result<&'a [Value], Bad> {
    match fields.get(name) {
        Some(Value::Array(a)) => Ok(a.as_slice()),
        Some(v) => Err(bad(name, format!("expected an array of {what}, found {}", json_kind(v)))),
        None => Err(bad(name, "missing")),
    }
}

fn string(v: Option<&Value>, field: &str) -> Result<String, Bad> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(bad(field, format!("expected a string, found {}", json_kind(v)))),
        None => Err(bad(field, "missing")),
    }
}

/// An optional string: absent, null or a string.
fn optional_string(v: Option<&Value>, field: &str) -> Result<Option<String>, Bad> {
    match v {
        None | Some(Value::Null) => Ok(None),
        v => string(v, field).map(Some),
    }
}

/// A chat message's content: a string, or a list of text parts (joined with
/// [`PART_SEPARATOR`]).
fn content(v: Option<&Value>, field: &str) -> Result<String, Bad> {
    let Some(Value::Array(parts)) = v else { return string(v, field) };
    let mut texts = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Value::Object(p) = p else {
            return Err(bad(at, format!("expected a text part, found {}", json_kind(p))));
        };
        match p.get("type") {
            None => {}
            Some(Value::String(t)) if t == "text" => {}
            Some(Value::String(t)) => {
                return Err(bad(
                    format!("{at}.type"),
                    format!("only text parts can be imported, found a {t:?} part"),
                ))
            }
            Some(v) => {
                return Err(bad(
                    format!("{at}.type"),
                    format!("expected a string, found {}", json_kind(v)),
                ))
            }
        }
        texts.push(string(p.get("text"), &format!("{at}.text"))?);
    }
    Ok(texts.join(PART_SEPARATOR))
}

fn parse_chat(fields: &Map<String, Value>) -> Result<Example, Bad> {
    let messages = list(fields, "messages", "messages")?;
    let mut turns = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let Value::Object(m) = m else {
            return Err(bad(
                at,
                format!("expected a message with role and content, found {}", json_kind(m)),
            ));
        };
        let role = match string(m.get("role"), &format!("{at}.role"))?.as_str() {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(bad(
                    format!("{at}.role"),
                    format!("unknown role {other:?} (expected system, user or assistant)"),
                ))
            }
        };
        let content = content(m.get("content"), &format!("{at}.content"))?;
        turns.push(Turn { role, content, at });
    }
    conversation(turns, "messages", "content")
}

fn parse_sharegpt(fields: &Map<String, Value>) -> Result<Example, Bad> {
    let messages = list(fields, "conversations", "turns")?;
    let mut turns = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = optional_string(fields.get("system"), "system")? {
        if !system.trim().is_empty() {
            turns.push(Turn { role: Role::System, content: system, at: "system".into() });
        }
    }
    for (i, m) in messages.iter().enumerate() {
        let at = format!("conversations[{i}]");
        let Value::Object(m) = m else {
            return Err(bad(
                at,
                format!("expected a turn with from and value, found {}", json_kind(m)),
            ));
        };
        let role = match string(m.get("from"), &format!("{at}.from"))?.as_str() {
            "system" => Role::System,
            "human" | "user" => Role::User,
            "gpt" | "assistant" => Role::Assistant,
            other => {
                return Err(bad(
                    format!("{at}.from"),
                    format!(
                        "unknown speaker {other:?} (expected human, gpt or system; user and \
                         assistant are read too)"
                    ),
                ))
            }
        };
        let content = string(m.get("value"), &format!("{at}.value"))?;
        turns.push(Turn { role, content, at });
    }
    conversation(turns, "conversations", "value")
}

fn parse_alpaca(fields: &Map<String, Value>) -> Result<Example, Bad> {
    let instruction = string(fields.get("instruction"), "instruction")?;
    if instruction.trim().is_empty() {
        return Err(bad("instruction", "the instruction is empty"));
    }
    let input = optional_string(fields.get("input"), "input")?;
    let output = string(fields.get("output"), "output")?;
    if output.trim().is_empty() {
        return Err(bad("output", "the response is empty"));
    }
    let mut context = Vec::new();
    if let Some(system) = optional_string(fields.get("system"), "system")? {
        if !system.trim().is_empty() {
            context.push(Message { role: Role::System, content: system });
        }
    }
    match fields.get("history") {
        None | Some(Value::Null) => {}
        Some(Value::Array(pairs)) => {
            for (i, pair) in pairs.iter().enumerate() {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(q), Value::String(a)]) => {
                        context.push(Message { role: Role::User, content: q.clone() });
                        context.push(Message { role: Role::Assistant, content: a.clone() });
                    }
                    _ => {
                        return Err(bad(
                            format!("history[{i}]"),
                            "expected an [instruction, response] pair of strings",
                        ))
                    }
                }
            }
        }
        Some(v) => {
            return Err(bad(
                "history",
                format!(
                    "expected an array of [instruction, response] pairs, found {}",
                    json_kind(v)
                ),
            ))
        }
    }
    let prompt = match input {
        Some(input) if !input.trim().is_empty() => format!("{instruction}\n\n{input}"),
        _ => instruction,
    };
    Ok(Example { context, prompt, response: Some(output) })
}

/// Turns → an example: the final assistant turn is the response, the user turn right before
/// it the prompt, everything earlier the context. A conversation that ends with a user turn
/// is a prompt with no response.
fn conversation(mut turns: Vec<Turn>, list: &str, text: &str) -> Result<Example, Bad> {
    let Some(last) = turns.last() else { return Err(bad(list, "no messages")) };
    if !turns.iter().any(|t| t.role == Role::User) {
        return Err(bad(list, "no user turn: the prompt is the last user message"));
    }
    let response = match last.role {
        Role::User => None,
        Role::System => {
            return Err(bad(
                format!("{}.role", last.at),
                "the conversation ends with a system message; it should end with the user's \
                 prompt or the assistant's response",
            ))
        }
        Role::Assistant => {
            let last = turns.pop().expect("a last turn");
            if last.content.trim().is_empty() {
                return Err(bad(
                    format!("{}.{text}", last.at),
                    "the assistant's response is empty",
                ));
            }
            match turns.last() {
                Some(t) if t.role == Role::User => {}
                Some(t) => {
                    return Err(bad(
                        t.at.clone(),
                        format!(
                            "expected the user turn that the final assistant turn answers, \
                             found a {} turn",
                            t.role.as_str()
                        ),
                    ))
                }
                None => unreachable!("a user turn exists"),
            }
            Some(last.content)
        }
    };
    let prompt = turns.pop().expect("the user turn");
    if prompt.content.trim().is_empty() {
        return Err(bad(
            format!("{}.{text}", prompt.at),
            "the prompt (the last user turn) is empty",
        ));
    }
    let context = turns.into_iter().map(|t| Message { role: t.role, content: t.content }).collect();
    Ok(Example { context, prompt: prompt.content, response })
}

/// A prompt pool's candidates: its [`POOL_RESPONSES`] field as a string or a list of strings.
/// Blank strings and values of other kinds are not made candidates (the field stays in the
/// item's meta, whole, as before).
pub fn pool_responses(fields: &Map<String, Value>) -> Vec<String> {
    let keep = |v: &Value| v.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string);
    match fields.get(POOL_RESPONSES) {
        Some(Value::Array(a)) => a.iter().filter_map(keep).collect(),
        Some(v) => keep(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A candidate read from line `line` of `path`.
pub fn imported_response(text: String, path: &Path, line: u64, format: Format) -> NewResponse {
    NewResponse {
        text,
        source: "import".into(),
        origin: Some(json!({
            "file": path.display().to_string(),
            "line": line,
            "format": format.name(),
        })),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
enum GroupKey {
    Id(String),
    Prompt(Option<String>, String),
}

/// Records gathered into items: records with the same id (when they have ids), or else with
/// the same context and prompt, are one item whose candidates are their responses in file
/// order. The item keeps the first record's fields (id, gold, meta, line).
#[derive(Debug, Default)]
pub struct Groups {
    items: Vec<NewItem>,
    by_key: HashMap<GroupKey, usize>,
}

impl Groups {
    /// Add the item one record makes (its response, if any, as its only candidate);
    /// `id_field`: the field its id came from, `None` when the id was generated. Refused when
    /// an earlier record has the same id with another prompt or context.
    pub fn add(&mut self, mut item: NewItem, id_field: Option<&str>) -> Result<(), Bad> {
        let key = match id_field {
            Some(_) => GroupKey::Id(item.id.clone()),
            None => GroupKey::Prompt(item.context.clone(), item.text.clone()),
        };
        match self.by_key.get(&key) {
            Some(&i) => {
                let first = &mut self.items[i];
                if first.text != item.text || first.context != item.context {
                    return Err(Bad {
                        field: id_field.map(str::to_string),
                        message: format!(
                            "id {:?}: line {} has this id with another {}",
                            item.id,
                            first.line,
                            if first.text != item.text { "prompt" } else { "context" }
                        ),
                    });
                }
                first.responses.append(&mut item.responses);
            }
            None => {
                self.by_key.insert(key, self.items.len());
                self.items.push(item);
            }
        }
        Ok(())
    }

    /// How many items so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in the order of their first records.
    pub fn into_items(self) -> Vec<NewItem> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn msg(role: Role, content: &str) -> Message {
        Message { role, content: content.into() }
    }

    fn err(format: Format, v: Value) -> (String, String) {
        let b = parse(format, &rec(v)).unwrap_err();
        (b.field.unwrap_or_default(), b.message)
    }

    #[test]
    fn chat_single_turn_with_system() {
        let ex = parse(
            Format::Chat,
            &rec(json!({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi?"},
                {"role": "assistant", "content": "Hello."}
            ]})),
        )
        .unwrap();
        assert_eq!(ex.context, vec![msg(Role::System, "Be brief.")]);
        assert_eq!(ex.prompt, "Hi?");
        assert_eq!(ex.response.as_deref(), Some("Hello."));
        let stored: Value = serde_json::from_str(&ex.context_json().unwrap()).unwrap();
        assert_eq!(stored, json!([{"role": "system", "content": "Be brief."}]));
    }

    #[test]
    fn chat_multi_turn_keeps_earlier_turns_as_context() {
        let ex = parse(
            Format::Chat,
            &rec(json!({"messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"}
            ]})),
        )
        .unwrap();
        assert_eq!(ex.context, vec![msg(Role::User, "a"), msg(Role::Assistant, "b")]);
        assert_eq!((ex.prompt.as_str(), ex.response.as_deref()), ("c", Some("d")));
    }

    #[test]
    fn chat_ending_with_a_user_turn_is_a_prompt_without_candidate() {
        let ex = parse(
            Format::Chat,
            &rec(json!({"messages": [{"role": "user", "content": "only a question"}]})),
        )
        .unwrap();
        assert_eq!(ex.prompt, "only a question");
        assert_eq!(ex.response, None);
        assert_eq!(ex.context_json(), None);
    }

    #[test]
    fn text_parts_are_joined_and_other_parts_refused() {
        let ex = parse(
            Format::Chat,
            &rec(json!({"messages": [
                {"role": "user", "content": [{"type": "text", "text": "one"}, {"text": "two"}]},
                {"role": "assistant", "content": "ok"}
            ]})),
        )
        .unwrap();
        assert_eq!(ex.prompt, format!("one{PART_SEPARATOR}two"));
        let (f, m) = err(
            Format::Chat,
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}),
        );
        assert_eq!(f, "messages[0].content[0].type");
        assert!(m.contains("only text parts"), "{m}");
    }

    #[test]
    fn malformed_chat_records_name_the_field() {
        let cases = [
            (
                json!({"messages": "hi"}),
                "messages",
                "expected an array of messages, found a string",
            ),
            (json!({"messages": []}), "messages", "no messages"),
            (json!({"messages": [1]}), "messages[0]", "expected a message with role and content"),
            (json!({"messages": [{"content": "x"}]}), "messages[0].role", "missing"),
            (
                json!({"messages": [{"role": "bot", "content": "x"}]}),
                "messages[0].role",
                "unknown role \"bot\"",
            ),
            (json!({"messages": [{"role": "user"}]}), "messages[0].content", "missing"),
            (
                json!({"messages": [{"role": "user", "content": 5}]}),
                "messages[0].content",
                "expected a string, found a number",
            ),
            (
                json!({"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}),
                "messages",
                "no user turn",
            ),
            (
                json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]}),
                "messages[1].content",
                "the assistant's response is empty",
            ),
            (
                json!({"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "a"}]}),
                "messages[0].content",
                "the prompt (the last user turn) is empty",
            ),
            (
                json!({"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}]}),
                "messages[1].role",
                "ends with a system message",
            ),
            (
                json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]}),
                "messages[1]",
                "found a assistant turn",
            ),
            (
                json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": null}]}),
                "messages[1].content",
                "found null",
            ),
        ];
        for (v, field, message) in cases {
            let (f, m) = err(Format::Chat, v.clone());
            assert_eq!(f, field, "{v}");
            assert!(m.contains(message), "{v}: {m}");
        }
    }

    #[test]
    fn alpaca_with_and_without_input() {
        let ex = parse(
            Format::Alpaca,
            &rec(json!({"instruction": "Sum these.", "input": "2, 3", "output": "5"})),
        )
        .unwrap();
        assert_eq!(ex.prompt, "Sum these.\n\n2, 3");
        assert_eq!(ex.response.as_deref(), Some("5"));
        assert!(ex.context.is_empty());
        let ex = parse(
            Format::Alpaca,
            &rec(json!({"instruction": "Say hi.", "input": "", "output": "Hi", "system": "Be kind."})),
        )
        .unwrap();
        assert_eq!(ex.prompt, "Say hi.");
        assert_eq!(ex.context, vec![msg(Role::System, "Be kind.")]);
        let ex = parse(
            Format::Alpaca,
            &rec(json!({"instruction": "And 3?", "output": "9", "history": [["Square 2", "4"]]})),
        )
        .unwrap();
        assert_eq!(ex.context, vec![msg(Role::User, "Square 2"), msg(Role::Assistant, "4")]);
    }

    #[test]
    fn malformed_alpaca_records_name_the_field() {
        let cases = [
            (json!({"output": "x"}), "instruction", "missing"),
            (json!({"instruction": "x"}), "output", "missing"),
            (json!({"instruction": "", "output": "x"}), "instruction", "empty"),
            (json!({"instruction": "x", "output": " "}), "output", "empty"),
            (json!({"instruction": "x", "output": ["x"]}), "output", "found an array"),
            (json!({"instruction": "x", "input": 3, "output": "y"}), "input", "found a number"),
            (json!({"instruction": "x", "output": "y", "history": [["a"]]}), "history[0]", "pair"),
        ];
        for (v, field, message) in cases {
            let (f, m) = err(Format::Alpaca, v.clone());
            assert_eq!(f, field, "{v}");
            assert!(m.contains(message), "{v}: {m}");
        }
    }

    #[test]
    fn sharegpt_maps_speakers_to_roles() {
        let ex = parse(
            Format::ShareGpt,
            &rec(json!({"system": "S", "conversations": [
                {"from": "human", "value": "q1"},
                {"from": "gpt", "value": "a1"},
                {"from": "user", "value": "q2"},
                {"from": "assistant", "value": "a2"}
            ]})),
        )
        .unwrap();
        assert_eq!(
            ex.context,
            vec![msg(Role::System, "S"), msg(Role::User, "q1"), msg(Role::Assistant, "a1")]
        );
        assert_eq!((ex.prompt.as_str(), ex.response.as_deref()), ("q2", Some("a2")));
        let (f, m) =
            err(Format::ShareGpt, json!({"conversations": [{"from": "bard", "value": "x"}]}));
        assert_eq!(f, "conversations[0].from");
        assert!(m.contains("unknown speaker \"bard\""), "{m}");
        let (f, m) = err(Format::ShareGpt, json!({"conversations": [{"from": "human"}]}));
        assert_eq!((f.as_str(), m.as_str()), ("conversations[0].value", "missing"));
    }

    #[test]
    fn detection_from_a_record() {
        let d = |v: Value| detect(&rec(v), "text");
        assert_eq!(d(json!({"messages": []})), Some(Format::Chat));
        assert_eq!(d(json!({"conversations": []})), Some(Format::ShareGpt));
        assert_eq!(d(json!({"instruction": "i", "output": "o"})), Some(Format::Alpaca));
        assert_eq!(d(json!({"text": "t", "responses": ["a"]})), None);
        // A pool record with a `messages` field that is no list of messages stays a pool record.
        assert_eq!(d(json!({"text": "t", "messages": 3})), None);
        // Without text, a malformed SFT record is still taken as its format (its problem named).
        assert_eq!(d(json!({"messages": "x"})), Some(Format::Chat));
        assert_eq!(d(json!({"instruction": "i"})), Some(Format::Alpaca));
        assert_eq!(d(json!({"id": 1})), None);
    }

    #[test]
    fn mixed_formats_are_named() {
        let m = |file, v: Value| mixed(file, 1, &rec(v), "text");
        assert_eq!(m(Format::Chat, json!({"messages": []})), None);
        assert_eq!(m(Format::Chat, json!({"id": "x"})), None);
        let msg = m(Format::Chat, json!({"instruction": "i", "output": "o"})).unwrap();
        assert!(msg.starts_with("an alpaca record") && msg.contains("in a chat file"), "{msg}");
        assert!(m(Format::ShareGpt, json!({"text": "t"})).unwrap().contains("prompt-pool record"));
        assert!(m(Format::Jsonl, json!({"messages": []})).unwrap().contains("a chat record"));
        assert_eq!(m(Format::Jsonl, json!({"text": "t", "messages": []})), None);
    }

    #[test]
    fn pool_responses_from_a_string_or_a_list() {
        assert_eq!(pool_responses(&rec(json!({"responses": "one"}))), vec!["one"]);
        assert_eq!(pool_responses(&rec(json!({"responses": ["a", " ", 3, "b"]}))), vec!["a", "b"]);
        assert!(pool_responses(&rec(json!({"responses": ""}))).is_empty());
        assert!(pool_responses(&rec(json!({"text": "x"}))).is_empty());
    }

    fn item(id: &str, text: &str, context: Option<&str>, line: u64, response: &str) -> NewItem {
        NewItem {
            id: id.into(),
            text: text.into(),
            meta: None,
            gold: None,
            line,
            context: context.map(str::to_string),
            responses: vec![imported_response(
                response.into(),
                Path::new("f.jsonl"),
                line,
                Format::Chat,
            )],
        }
    }

    #[test]
    fn records_with_the_same_prompt_are_one_item() {
        let mut g = Groups::default();
        g.add(item("f-1", "q", None, 1, "a1"), None).unwrap();
        g.add(item("f-2", "other", None, 2, "b1"), None).unwrap();
        g.add(item("f-3", "q", None, 3, "a2"), None).unwrap();
        // Same prompt, another context: another item.
        g.add(item("f-4", "q", Some("[]"), 4, "c1"), None).unwrap();
        assert_eq!(g.len(), 3);
        let items = g.into_items();
        assert_eq!(items[0].id, "f-1");
        let texts: Vec<&str> = items[0].responses.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["a1", "a2"]);
        assert_eq!(items[0].responses[1].origin.as_ref().unwrap()["line"], 3);
    }

    #[test]
    fn records_with_the_same_id_are_one_item_unless_their_prompts_differ() {
        let mut g = Groups::default();
        g.add(item("p1", "q", None, 1, "a1"), Some("id")).unwrap();
        g.add(item("p1", "q", None, 2, "a2"), Some("id")).unwrap();
        let b = g.add(item("p1", "not q", None, 3, "a3"), Some("id")).unwrap_err();
        assert_eq!(b.field.as_deref(), Some("id"));
        assert!(b.message.contains("line 1 has this id with another prompt"), "{}", b.message);
        assert_eq!(g.into_items()[0].responses.len(), 2);
    }
}
