//! LIMO's rule-based quality rubric for a response (docs/methods.md#limo-rubric): elaborated reasoning
//! (length) 30%, self-verification ("check", "verify") 20%, exploration ("perhaps", "might")
//! 25%, adaptive granularity ("therefore", "since") 25%. Keyword counts are per 100 words, so
//! a long answer does not win the keyword parts by length alone; each part is then divided by
//! its largest value over the candidates being compared, so the weights mean what they say.

use serde::Serialize;

/// The rubric's weights (they need not sum to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    pub elaboration: f64,
    pub verification: f64,
    pub exploration: f64,
    pub granularity: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self { elaboration: 0.30, verification: 0.20, exploration: 0.25, granularity: 0.25 }
    }
}

impl std::str::FromStr for Weights {
    type Err = String;

    /// "elaboration=0.3,verification=0.2,exploration=0.25,granularity=0.25"; parts left out
    /// keep their defaults.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut w = Weights::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) =
                part.split_once('=').ok_or_else(|| format!("{part:?}: write name=weight"))?;
            let v: f64 =
                v.trim().parse().map_err(|_| format!("{part:?}: the weight is not a number"))?;
            if !(v >= 0.0 && v.is_finite()) {
                return Err(format!("{part:?}: a weight must be ≥ 0"));
            }
            match k.trim() {
                "elaboration" => w.elaboration = v,
                "verification" => w.verification = v,
                "exploration" => w.exploration = v,
                "granularity" => w.granularity = v,
                other => return Err(format!("unknown rubric part {other:?}; use elaboration, verification, exploration, granularity")),
            }
        }
        Ok(w)
    }
}

const VERIFICATION: &[&str] =
    &["check", "verify", "verified", "double-check", "confirm", "confirms", "indeed", "sanity"];
const EXPLORATION: &[&str] =
    &["perhaps", "might", "maybe", "alternatively", "suppose", "consider", "possibly", "try"];
const GRANULARITY: &[&str] =
    &["therefore", "since", "thus", "because", "hence", "so", "first", "next", "then"];

/// A response's raw rubric features.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Features {
    pub words: usize,
    /// Keyword hits per 100 words.
    pub verification: f64,
    pub exploration: f64,
    pub granularity: f64,
}

pub fn features(text: &str) -> Features {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    let n = words.len();
    let per100 = |set: &[&str]| {
        let hits = words
            .iter()
            .filter(|w| set.contains(w) || set.iter().any(|k| w.starts_with(k) && k.len() >= 5))
            .count();
        if n == 0 {
            0.0
        } else {
            hits as f64 * 100.0 / n as f64
        }
    };
    Features {
        words: n,
        verification: per100(VERIFICATION),
        exploration: per100(EXPLORATION),
        granularity: per100(GRANULARITY),
    }
}

/// Scores in [0, Σ weights] for `all` responses, each part scaled by its maximum over `all`.
pub fn scores(all: &[Features], w: &Weights) -> Vec<f64> {
    let max = |f: fn(&Features) -> f64| all.iter().map(f).fold(0.0f64, f64::max);
    let (me, mv, mx, mg) = (
        max(|f| f.words as f64),
        max(|f| f.verification),
        max(|f| f.exploration),
        max(|f| f.granularity),
    );
    let part = |x: f64, m: f64| if m > 0.0 { x / m } else { 0.0 };
    all.iter()
        .map(|f| {
            w.elaboration * part(f.words as f64, me)
                + w.verification * part(f.verification, mv)
                + w.exploration * part(f.exploration, mx)
                + w.granularity * part(f.granularity, mg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasoning_that_checks_and_explores_outscores_a_bare_answer() {
        let bare = features("12");
        let rich = features("Perhaps count in pairs. 7 + 5: since 7 + 3 = 10, then 2 more is 12. Let me check: 12 - 5 = 7, so it is 12. Therefore 12.");
        assert!(
            rich.verification > 0.0 && rich.exploration > 0.0 && rich.granularity > 0.0,
            "{rich:?}"
        );
        let s = scores(&[bare, rich], &Weights::default());
        assert!(s[1] > s[0] + 0.5, "{s:?}");
        assert!((s[1] - 1.0).abs() < 1e-9, "the best on every part scores the weights' sum");
    }

    #[test]
    fn keyword_parts_are_per_length_and_weights_parse() {
        let short = features("check this");
        let long = features(&format!("check this {}", "word ".repeat(98)));
        assert!(short.verification > long.verification);
        let w: Weights = "verification=1, exploration=0".parse().unwrap();
        assert_eq!((w.verification, w.exploration, w.elaboration), (1.0, 0.0, 0.30));
        assert!("speed=1".parse::<Weights>().unwrap_err().contains("unknown rubric part"));
        assert!("verification=-1".parse::<Weights>().is_err());
    }
}
