//! The keymap is data (`themes/keymap.toml`, compiled in); a user file
//! (`$XDG_CONFIG_HOME/hifi/keymap.toml`) replaces bindings action by action.
//! `Keymap::resolve(key, screen)` is all the runtime asks of it.

use std::collections::HashMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, BrowseFilter, BrowseKey, RespKey};
use super::app::Screen;

pub const DEFAULT: &str = include_str!("../../themes/keymap.toml");

/// A key as written in the keymap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => KeyCode::Char(c.chars().next().unwrap_or(' ')),
            other => return Err(format!("unknown key {other:?}")),
        };
        Ok(Key { code, ctrl, alt })
    }

    /// From a terminal event (shift is part of the character: "U", not "shift-u").
    pub fn from_event(e: &KeyEvent) -> Key {
        let code = match e.code {
            KeyCode::Char(c) if e.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            c => c,
        };
        Key {
            code,
            ctrl: e.modifiers.contains(KeyModifiers::CONTROL),
            alt: e.modifiers.contains(KeyModifiers::ALT),
        }
    }
}

type Section = HashMap<String, Vec<String>>;

#[derive(Debug, Clone)]
pub struct Keymap {
    global: HashMap<Key, Action>,
    screens: HashMap<Screen, HashMap<Key, Action>>,
}

fn action_for(section: &str, name: &str, index: usize) -> Option<Action> {
    Some(match (section, name) {
        ("global", "quit") => Action::Quit,
        ("global", "next_screen") => Action::NextScreen,
        ("global", "prev_screen") => Action::PrevScreen,
        ("global", "review") => Action::GoTo(Screen::Review),
        ("global", "pipeline") => Action::GoTo(Screen::Pipeline),
        ("global", "dashboard") => Action::GoTo(Screen::Dashboard),
        ("global", "adjudicate") => Action::GoTo(Screen::Adjudicate),
        ("global", "sets") => Action::GoTo(Screen::Sets),
        ("global", "responses") => Action::GoTo(Screen::Responses),
        ("global", "browse") => Action::GoTo(Screen::Browse),
        ("global", "help") => Action::ToggleHelp,
        ("review", "left") => Action::LabelLeft(index),
        ("review", "right") => Action::LabelRight(index),
        ("review", "both") => Action::LabelBoth(index),
        ("review" | "adjudicate", "confirm") => Action::ConfirmSet,
        ("review", "skip") => Action::Skip,
        ("review", "flag") => Action::Flag,
        ("review", "note") => Action::StartNote,
        ("review", "undo") => Action::Undo,
        ("review", "redo") => Action::Redo,
        ("review", "guidelines") => Action::ToggleGuidelines,
        ("review", "predictions") => Action::TogglePredictions,
        ("review", "scroll_down") => Action::Scroll(5),
        ("review", "scroll_up") => Action::Scroll(-5),
        ("pipeline" | "adjudicate" | "sets", "up") => Action::Up,
        ("pipeline" | "adjudicate" | "sets", "down") => Action::Down,
        ("pipeline", "start") => Action::StartJob,
        ("pipeline", "cancel") => Action::CancelJob,
        ("review" | "dashboard" | "adjudicate" | "sets", "refresh") => Action::Refresh,
        ("sets", "veto") => Action::ToggleVeto,
        ("sets", "prev_set") => Action::PrevSet,
        ("sets", "next_set") => Action::NextSet,
        ("adjudicate", "resolve") => Action::Resolve(index),
        ("responses", name) => Action::Resp(match name {
            "accept" => RespKey::Accept,
            "reject" => RespKey::Reject,
            "reject_with_reason" => RespKey::RejectWithReason,
            "score" => RespKey::Score(u8::try_from(index + 1).ok().filter(|s| *s <= 5)?),
            "edit" => RespKey::Edit,
            "next_candidate" => RespKey::NextCandidate,
            "prev_candidate" => RespKey::PrevCandidate,
            "next_item" => RespKey::NextItem,
            "prev_item" => RespKey::PrevItem,
            "undo" => RespKey::Undo,
            "toggle_mode" => RespKey::ToggleMode,
            "prompt" => RespKey::TogglePrompt,
            "reload" => RespKey::Reload,
            "line_down" => RespKey::Lines(1),
            "line_up" => RespKey::Lines(-1),
            "page_down" => RespKey::Pages(1),
            "page_up" => RespKey::Pages(-1),
            "top" => RespKey::Top,
            "bottom" => RespKey::Bottom,
            "left_better" => RespKey::LeftBetter,
            "right_better" => RespKey::RightBetter,
            "tie" => RespKey::Tie,
            "both_bad" => RespKey::BothBad,
            "help" => return Some(Action::ToggleHelp),
            _ => return None,
        }),
        ("browse", name) => Action::Browse(match name {
            "search" => BrowseKey::Search,
            "open" => BrowseKey::Open,
            "back" => BrowseKey::Back,
            "down" => BrowseKey::Lines(1),
            "up" => BrowseKey::Lines(-1),
            "page_down" => BrowseKey::Pages(1),
            "page_up" => BrowseKey::Pages(-1),
            "top" => BrowseKey::Top,
            "bottom" => BrowseKey::Bottom,
            "flagged" => BrowseKey::Filter(BrowseFilter::Flagged),
            "skipped" => BrowseKey::Filter(BrowseFilter::Skipped),
            "noted" => BrowseKey::Filter(BrowseFilter::Noted),
            "experts_disagree" => BrowseKey::Filter(BrowseFilter::ExpertsDisagree),
            "model_disagrees" => BrowseKey::Filter(BrowseFilter::ModelDisagrees),
            "labeled" => BrowseKey::Filter(BrowseFilter::Labeled),
            "mine" => BrowseKey::Filter(BrowseFilter::Mine),
            "label" => BrowseKey::Filter(BrowseFilter::Label),
            "split" => BrowseKey::Filter(BrowseFilter::Split),
            "stratum" => BrowseKey::Filter(BrowseFilter::Stratum),
            "clear" => BrowseKey::ClearFilters,
            "work_through" => BrowseKey::WorkThrough,
            "refresh" => BrowseKey::Refresh,
            "relabel" => BrowseKey::Relabel(index),
            "note" => BrowseKey::Note,
            "flag" => BrowseKey::Flag,
            "second_opinion" => BrowseKey::SecondOpinion,
            "undo" => BrowseKey::Undo,
            "labels" => BrowseKey::Labels,
            "edit_guidelines" => BrowseKey::EditGuidelines,
            "help" => return Some(Action::ToggleHelp),
            _ => return None,
        }),
        _ => return None,
    })
}

/// "line N: " for the first line of `text` that starts with `needle`, for messages about a
/// user file ("" when not found).
fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .position(|l| l.trim_start().starts_with(needle))
        .map_or(String::new(), |i| format!("line {}: ", i + 1))
}

/// Actions whose n-th key means "the n-th label".
fn indexed(name: &str) -> bool {
    matches!(name, "left" | "right" | "both" | "resolve" | "score" | "relabel")
}

impl Keymap {
    /// The default keymap with `user` (path, text) merged over it. Returns the keymap and a
    /// warning (file, line, what) when the user file is bad — then the defaults are used.
    pub fn load(user: Option<(&str, &str)>) -> (Keymap, Option<String>) {
        let default = Self::parse_merged(DEFAULT, None)
            .unwrap_or_else(|_| Keymap { global: HashMap::new(), screens: HashMap::new() });
        match user {
            None => (default, None),
            Some((path, text)) => match Self::parse_merged(DEFAULT, Some(text)) {
                Ok(k) => (k, None),
                Err(e) => (default, Some(format!("{path}: {e}; using the default keymap"))),
            },
        }
    }

    fn parse_merged(default: &str, user: Option<&str>) -> Result<Keymap, String> {
        let mut sections: HashMap<String, Section> =
            toml::from_str(default).map_err(|e| crate::config::toml_message(default, &e))?;
        if let Some(text) = user {
            let over: HashMap<String, Section> =
                toml::from_str(text).map_err(|e| crate::config::toml_message(text, &e))?;
            for (sec, actions) in over {
                if !sections.contains_key(&sec) {
                    let at = line_of(text, &format!("[{sec}]"));
                    return Err(format!("{at}unknown section [{sec}] (sections: global, review, pipeline, dashboard, adjudicate, sets, responses, browse)"));
                }
                for (name, keys) in actions {
                    let at = line_of(text, &name);
                    if action_for(&sec, &name, 0).is_none() {
                        return Err(format!("{at}[{sec}] has no action {name:?}"));
                    }
                    for k in &keys {
                        Key::parse(k).map_err(|e| format!("{at}[{sec}] {name}: {e}"))?;
                    }
                    sections.entry(sec.clone()).or_default().insert(name, keys);
                }
            }
        }
        let mut km = Keymap { global: HashMap::new(), screens: HashMap::new() };
        for (sec, actions) in &sections {
            let screen = match sec.as_str() {
                "global" => None,
                "review" => Some(Screen::Review),
                "pipeline" => Some(Screen::Pipeline),
                "dashboard" => Some(Screen::Dashboard),
                "adjudicate" => Some(Screen::Adjudicate),
                "sets" => Some(Screen::Sets),
                "responses" => Some(Screen::Responses),
                "browse" => Some(Screen::Browse),
                other => return Err(format!("unknown section [{other}]")),
            };
            for (name, keys) in actions {
                for (i, k) in keys.iter().enumerate() {
                    let key = Key::parse(k).map_err(|e| format!("[{sec}] {name}: {e}"))?;
                    let idx = if indexed(name) { i } else { 0 };
                    let action = action_for(sec, name, idx)
                        .ok_or_else(|| format!("[{sec}] has no action {name:?}"))?;
                    let map = match screen {
                        None => &mut km.global,
                        Some(s) => km.screens.entry(s).or_default(),
                    };
                    if let Some(prev) = map.insert(key, action.clone()) {
                        if prev != action {
                            return Err(format!(
                                "[{sec}] key {k:?} is bound twice ({prev:?} and {action:?})"
                            ));
                        }
                    }
                }
            }
        }
        Ok(km)
    }

    /// The action for `key` on `screen`: the screen's bindings first, then global ones.
    pub fn resolve(&self, key: &KeyEvent, screen: Screen) -> Option<Action> {
        let k = Key::from_event(key);
        self.screens.get(&screen).and_then(|m| m.get(&k)).or_else(|| self.global.get(&k)).cloned()
    }

    /// The global action for `key` (quit, screens, help), whatever the screen.
    pub fn resolve_global(&self, key: &KeyEvent) -> Option<Action> {
        self.global.get(&Key::from_event(key)).cloned()
    }

    /// The keys bound to an action on a screen, for help and hints ("a", "ctrl-r").
    pub fn keys_for(&self, screen: Option<Screen>, action: &Action) -> Vec<String> {
        let map = match screen {
            None => Some(&self.global),
            Some(s) => self.screens.get(&s),
        };
        let mut out: Vec<String> = map
            .into_iter()
            .flatten()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| key_name(k))
            .collect();
        out.sort();
        out
    }
}

pub fn key_name(k: &Key) -> String {
    let base = match k.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Tab => "tab".into(),
        KeyCode::BackTab => "shift-tab".into(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        other => format!("{other:?}").to_lowercase(),
    };
    format!("{}{}{base}", if k.ctrl { "ctrl-" } else { "" }, if k.alt { "alt-" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn default_keymap_resolves_per_screen() {
        let (km, warn) = Keymap::load(None);
        assert!(warn.is_none());
        assert_eq!(km.resolve(&key('a'), Screen::Review), Some(Action::LabelLeft(0)));
        assert_eq!(km.resolve(&key('k'), Screen::Review), Some(Action::LabelRight(1)));
        assert_eq!(km.resolve(&key('2'), Screen::Review), Some(Action::LabelBoth(1)));
        assert_eq!(km.resolve(&key('2'), Screen::Adjudicate), Some(Action::Resolve(1)));
        assert_eq!(km.resolve(&key('Q'), Screen::Pipeline), Some(Action::Quit));
        assert_eq!(
            km.resolve(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL), Screen::Review),
            Some(Action::Redo)
        );
        assert_eq!(km.resolve(&key('z'), Screen::Review), None);
    }

    #[test]
    fn user_overrides_merge_and_bad_files_fall_back_with_the_line() {
        let (km, warn) = Keymap::load(Some(("k.toml", "[review]\nundo = [\"z\"]\n")));
        assert!(warn.is_none(), "{warn:?}");
        assert_eq!(km.resolve(&key('z'), Screen::Review), Some(Action::Undo));
        assert_eq!(km.resolve(&key('u'), Screen::Review), None);
        assert_eq!(km.resolve(&key('a'), Screen::Review), Some(Action::LabelLeft(0)));
        let (km, warn) = Keymap::load(Some(("k.toml", "[review]\nundo = [\"z\"\n")));
        assert!(warn.unwrap().starts_with("k.toml: line"));
        assert_eq!(km.resolve(&key('u'), Screen::Review), Some(Action::Undo));
        let (_, warn) = Keymap::load(Some(("k.toml", "[review]\nfly = [\"z\"]\n")));
        assert_eq!(
            warn.unwrap(),
            "k.toml: line 2: [review] has no action \"fly\"; using the default keymap"
        );
        let (_, warn) = Keymap::load(Some(("k.toml", "[review]\nundo = [\"a\"]\n")));
        assert!(warn.unwrap().contains("bound twice"));
        let (_, warn) = Keymap::load(Some(("k.toml", "[review]\nundo = [\"hyper-q\"]\n")));
        assert!(warn.unwrap().starts_with("k.toml: line 2: [review] undo: unknown key"));
    }
}
