//! A cheap text classifier that needs no LLM: hashed word unigrams and bigrams (the
//! fastText-style features BETR scores a whole pool with) and L2-regularised logistic
//! regression fitted by SGD, with positives weighted so both classes count equally.

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Sparse features of one text: (bucket, weight), L2-normalised.
pub type Features = Vec<(u32, f32)>;

/// Hashing trick: words and word pairs go to `1 << bits` buckets.
#[derive(Debug, Clone, Copy)]
pub struct Hasher {
    pub bits: u32,
}

impl Default for Hasher {
    fn default() -> Self {
        Self { bits: 20 }
    }
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Hasher {
    /// Lower-cased alphanumeric words, their unigrams and bigrams, counted with sublinear
    /// term frequency (1 + ln tf) and L2-normalised, so long documents do not dominate.
    pub fn features(&self, text: &str) -> Features {
        let lower = text.to_lowercase();
        let words: Vec<&str> =
            lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let mask = (1u64 << self.bits) - 1;
        let mut counts: std::collections::HashMap<u32, f32> = std::collections::HashMap::new();
        let mut prev: Option<u64> = None;
        for w in &words {
            let h = fnv1a(w.as_bytes(), 0);
            *counts.entry((h & mask) as u32).or_default() += 1.0;
            if let Some(p) = prev {
                let pair = fnv1a(&h.to_le_bytes(), p);
                *counts.entry((pair & mask) as u32).or_default() += 1.0;
            }
            prev = Some(h);
        }
        let mut f: Features = counts.into_iter().map(|(k, c)| (k, 1.0 + c.ln())).collect();
        f.sort_unstable_by_key(|x| x.0);
        let norm = f.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt();
        if norm > 0.0 {
            f.iter_mut().for_each(|x| x.1 /= norm);
        }
        f
    }
}

/// Fitting knobs.
#[derive(Debug, Clone, Copy)]
pub struct FitParams {
    pub epochs: usize,
    pub lr: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for FitParams {
    fn default() -> Self {
        Self { epochs: 20, lr: 0.5, l2: 1e-5, seed: 0 }
    }
}

/// A fitted logistic regression over hashed features.
#[derive(Debug, Clone)]
pub struct Logistic {
    w: Vec<f32>,
    b: f32,
}

impl Logistic {
    /// Fit on `docs` with labels `y`. Each positive weighs n_neg / n_pos so the rare class is
    /// not ignored (BETR's positives are the top 10%).
    pub fn fit(hasher: &Hasher, docs: &[Features], y: &[bool], p: FitParams) -> Self {
        let mut w = vec![0f32; 1 << hasher.bits];
        let mut b = 0f32;
        let pos = y.iter().filter(|v| **v).count().max(1) as f32;
        let neg = (y.len() as f32 - pos).max(1.0);
        let w_pos = (neg / pos).max(1.0);
        let mut order: Vec<usize> = (0..docs.len()).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
        let mut step = 0usize;
        for _ in 0..p.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                step += 1;
                let lr = p.lr / (1.0 + 1e-3 * step as f32).sqrt();
                let z = b + docs[i].iter().map(|(k, v)| w[*k as usize] * v).sum::<f32>();
                let target = if y[i] { 1.0 } else { 0.0 };
                let weight = if y[i] { w_pos } else { 1.0 };
                let g = weight * (sigmoid(z) - target);
                for (k, v) in &docs[i] {
                    let wk = &mut w[*k as usize];
                    *wk -= lr * (g * v + p.l2 * *wk);
                }
                b -= lr * g;
            }
        }
        Self { w, b }
    }

    /// The log-odds that `doc` is positive.
    pub fn logit(&self, doc: &Features) -> f32 {
        self.b + doc.iter().map(|(k, v)| self.w[*k as usize] * v).sum::<f32>()
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// How a classifier did on held-out documents.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HeldOut {
    pub n: usize,
    pub positives: usize,
    /// Share right at probability 0.5.
    pub accuracy: f64,
    /// Mean of the recall of each class (accuracy is flattering when 90% are negatives).
    pub balanced_accuracy: f64,
    /// What always answering "negative" would score.
    pub majority_accuracy: f64,
    /// Probability a random positive outscores a random negative; `None` with one class.
    pub auc: Option<f64>,
}

/// Score `logits` against `y`.
pub fn held_out(logits: &[f32], y: &[bool]) -> HeldOut {
    let n = y.len();
    let pos = y.iter().filter(|v| **v).count();
    let neg = n - pos;
    let (mut tp, mut tn) = (0usize, 0usize);
    for (z, t) in logits.iter().zip(y) {
        match (*z > 0.0, *t) {
            (true, true) => tp += 1,
            (false, false) => tn += 1,
            _ => {}
        }
    }
    let rate = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    HeldOut {
        n,
        positives: pos,
        accuracy: rate(tp + tn, n),
        balanced_accuracy: (rate(tp, pos) + rate(tn, neg)) / 2.0,
        majority_accuracy: rate(pos.max(neg), n),
        auc: auc(logits, y),
    }
}

/// Mann–Whitney AUC with ties counted half.
fn auc(scores: &[f32], y: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let (pos, neg) = (y.iter().filter(|v| **v).count(), y.iter().filter(|v| !**v).count());
    if pos == 0 || neg == 0 {
        return None;
    }
    // Average ranks (1-based) over ties, then the rank-sum statistic.
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|k| y[idx[*k]]).count() as f64 * avg;
        i = j + 1;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_normalised_and_order_sensitive_through_bigrams() {
        let h = Hasher { bits: 16 };
        let a = h.features("free money now");
        let b = h.features("now money free");
        let norm: f32 = a.iter().map(|x| x.1 * x.1).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(a.len(), 5, "3 words + 2 pairs");
        assert_ne!(a, b, "same words, different pairs");
        assert!(h.features("").is_empty());
    }

    #[test]
    fn separates_a_learnable_split_and_scores_it_honestly() {
        let h = Hasher { bits: 16 };
        let docs: Vec<Features> = (0..400)
            .map(|i| {
                let topic = if i % 10 == 0 {
                    "rocket engine thrust orbit"
                } else {
                    "garden soil tomato compost"
                };
                h.features(&format!("{topic} note {i} filler words {}", i % 7))
            })
            .collect();
        let y: Vec<bool> = (0..400).map(|i| i % 10 == 0).collect();
        let m = Logistic::fit(&h, &docs[..300], &y[..300], FitParams::default());
        let logits: Vec<f32> = docs[300..].iter().map(|d| m.logit(d)).collect();
        let r = held_out(&logits, &y[300..]);
        assert_eq!(r.n, 100);
        assert_eq!(r.positives, 10);
        assert!(r.balanced_accuracy > 0.95, "{r:?}");
        assert_eq!(r.auc, Some(1.0));
        assert!((r.majority_accuracy - 0.9).abs() < 1e-9);
    }

    #[test]
    fn auc_counts_ties_half_and_needs_both_classes() {
        assert_eq!(auc(&[0.0, 0.0], &[true, false]), Some(0.5));
        assert_eq!(auc(&[1.0, 0.0, 2.0], &[true, false, false]), Some(0.5));
        assert_eq!(auc(&[1.0], &[true]), None);
    }
}
