//! Themes are data: TOML files in `themes/` compiled in, with slots named by meaning. A user
//! theme (`$XDG_CONFIG_HOME/hifi/theme.toml`) may `inherits = "dark"` and override slots.
//! A bad file gives a message with its line, and the built-in default is used.

use std::collections::HashMap;

use ratatui::style::Color;
use serde::Deserialize;

const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub muted: Color,
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub selected_bg: Color,
    pub border: Color,
    pub labels: Vec<Color>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    inherits: Option<String>,
    fg: Option<String>,
    bg: Option<String>,
    muted: Option<String>,
    accent: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    error: Option<String>,
    selected_bg: Option<String>,
    border: Option<String>,
    labels: Option<Vec<String>>,
}

/// Parse a colour: `#rrggbb`, a named colour, or `reset`.
pub fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 {
            if let Ok(v) = u32::from_str_radix(hex, 16) {
                return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
            }
        }
        return Err(format!("{s:?} is not a #rrggbb colour"));
    }
    Ok(match t.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return Err(format!("unknown colour {s:?}")),
    })
}

impl Theme {
    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let mut seen = Vec::new();
        resolve(name, &HashMap::new(), &mut seen).ok()
    }

    /// The theme to use: `name` (built-in, or the user's file when it is "user"/absent and a
    /// user file exists). Returns the theme and a warning to show when something was wrong.
    pub fn load(name: Option<&str>, user_file: Option<(&str, &str)>) -> (Theme, Option<String>) {
        let mut user = HashMap::new();
        let user_path = user_file.map(|(p, _)| p);
        if let Some((path, text)) = user_file {
            match toml::from_str::<ThemeFile>(text) {
                Ok(f) => {
                    user.insert("user".to_string(), f);
                }
                Err(e) => {
                    let msg = format!(
                        "{path}: {}; using the default theme",
                        crate::config::toml_message(text, &e)
                    );
                    return (Self::fallback(name), Some(msg));
                }
            }
        }
        let want = name.map(str::to_string).unwrap_or_else(|| {
            if user.is_empty() {
                "dark".into()
            } else {
                "user".into()
            }
        });
        match resolve(&want, &user, &mut Vec::new()) {
            Ok(t) => (t, None),
            // A bad value in the user's file: name the file, so they know what to fix.
            Err(e) => {
                let at = user_path
                    .filter(|_| !user.is_empty())
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default();
                (
                    Self::fallback(None),
                    Some(format!("{at}theme {want:?}: {e}; using the default theme")),
                )
            }
        }
    }

    fn fallback(name: Option<&str>) -> Theme {
        name.and_then(Theme::builtin).or_else(|| Theme::builtin("dark")).unwrap_or_else(plain)
    }

    pub fn label(&self, i: usize) -> Color {
        if self.labels.is_empty() {
            self.accent
        } else {
            self.labels[i % self.labels.len()]
        }
    }
}

/// Used only if even the compiled-in theme were broken (a test guards against that).
fn plain() -> Theme {
    Theme {
        name: "plain".into(),
        fg: Color::Reset,
        bg: Color::Reset,
        muted: Color::Gray,
        accent: Color::Cyan,
        ok: Color::Green,
        warn: Color::Yellow,
        error: Color::Red,
        selected_bg: Color::Blue,
        border: Color::Gray,
        labels: vec![Color::Yellow, Color::Green, Color::Magenta, Color::Cyan],
    }
}

fn resolve(
    name: &str,
    user: &HashMap<String, ThemeFile>,
    seen: &mut Vec<String>,
) -> Result<Theme, String> {
    if seen.iter().any(|s| s == name) {
        return Err(format!("`inherits` loops through {name:?}"));
    }
    seen.push(name.to_string());
    let owned;
    let file = match user.get(name) {
        Some(f) => f,
        None => {
            let text =
                BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
                    format!(
                        "no theme named {name:?} (built in: {})",
                        BUILTIN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
                    )
                })?;
            owned = toml::from_str::<ThemeFile>(text).map_err(|e| {
                format!("built-in theme {name}: {}", crate::config::toml_message(text, &e))
            })?;
            &owned
        }
    };
    let mut t = match &file.inherits {
        Some(parent) => resolve(parent, user, seen)?,
        None => plain(),
    };
    t.name = file.name.clone().unwrap_or_else(|| name.to_string());
    let set = |slot: &mut Color, v: &Option<String>, key: &str| -> Result<(), String> {
        if let Some(v) = v {
            *slot = parse_color(v).map_err(|e| format!("{key}: {e}"))?;
        }
        Ok(())
    };
    set(&mut t.fg, &file.fg, "fg")?;
    set(&mut t.bg, &file.bg, "bg")?;
    set(&mut t.muted, &file.muted, "muted")?;
    set(&mut t.accent, &file.accent, "accent")?;
    set(&mut t.ok, &file.ok, "ok")?;
    set(&mut t.warn, &file.warn, "warn")?;
    set(&mut t.error, &file.error, "error")?;
    set(&mut t.selected_bg, &file.selected_bg, "selected_bg")?;
    set(&mut t.border, &file.border, "border")?;
    if let Some(ls) = &file.labels {
        t.labels = ls
            .iter()
            .map(|c| parse_color(c))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("labels: {e}"))?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses() {
        for (name, _) in BUILTIN {
            let t = Theme::builtin(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(&t.name, name);
            assert!(!t.labels.is_empty());
        }
    }

    #[test]
    fn user_theme_inherits_and_bad_file_names_the_line() {
        let (t, warn) =
            Theme::load(None, Some(("u.toml", "inherits = \"light\"\naccent = \"#010203\"\n")));
        assert!(warn.is_none());
        assert_eq!(t.accent, Color::Rgb(1, 2, 3));
        assert_eq!(t.ok, Theme::builtin("light").unwrap().ok);
        let (t, warn) = Theme::load(None, Some(("u.toml", "accent = \"#010203\"\nok = 5\n")));
        assert_eq!(t, Theme::builtin("dark").unwrap());
        assert!(warn.unwrap().starts_with("u.toml: line 2"));
        let (_, warn) = Theme::load(None, Some(("u.toml", "accent = \"mauve\"\n")));
        assert!(warn.unwrap().contains("unknown colour"));
        let (_, warn) = Theme::load(None, Some(("u.toml", "inherits = \"user\"\n")));
        assert!(warn.unwrap().contains("loops"));
    }
}
