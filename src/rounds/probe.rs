//! The fast round model: a multinomial logistic-regression probe on the embeddings that
//! starts from the LLM: its label log-probabilities are a fixed offset of the logits (and
//! also features, so the probe can rescale them). With no data the probe *is* the LLM;
//! the L2 penalty keeps it there away from what experts labeled. A probe that learned from
//! scratch would, trained on boundary pairs alone, extrapolate wildly everywhere else —
//! fine-tuning the LLM has the same property, and this keeps the fast path faithful to it.
//!
//! Written here rather than taken from linfa-logistic: it is ~150 lines, needs no extra
//! dependency (argmin and its friends), is multinomial with per-class weights (rare
//! positives), and is deterministic to the bit for a given input, which the simulation's
//! "same seed, same report" promise relies on.
//!
//! Training minimises the class-weighted mean cross-entropy plus `λ/2·‖W‖²` (λ = `l2`, fading
//! as `l2 · prior_labels / n` past `prior_labels` labels; the biases at `bias_share · λ`) on z-scored
//! features with Nesterov-accelerated gradient descent; the step is 1/L with L bounded from
//! the data (power iteration on XᵀX/n), so no learning rate has to be tuned. The objective
//! is convex: the answer does not depend on an initialisation.

use serde::Serialize;

use crate::error::{Error, Result};

/// How to fit a probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeParams {
    /// L2 penalty on the weights (features are z-scored, so one value suits most data) while
    /// there are at most `prior_labels` training labels. It anchors the probe to the LLM where
    /// experts have not labeled: at 0.01 instead of 0.1, 20 boundary-pair labels on generated
    /// data where the LLM knows the boundary pulled the probe off it (κ 0.873 vs random's
    /// 0.938, tests/rounds.rs).
    pub l2: f64,
    /// Past this many training labels the penalty fades as `l2 · prior_labels / n`: on the
    /// summed loss the prior (the LLM, through the offset) then weighs as much as
    /// `prior_labels` labels however many arrive, instead of outweighing more of them the
    /// more there are (a fixed penalty on the *mean* loss put the sample ads' all-700-labels
    /// ceiling, κ 0.936, below 400 labels chosen by margin). Measured in
    /// docs/curation.md#the-round-models-penalty-fades-with-labels. `None`: `l2` whatever `n`.
    pub prior_labels: Option<usize>,
    /// Gradient steps.
    pub iterations: usize,
    /// Weight each class by n / (k · n_class), so a rare label counts as much as a common one.
    pub balanced: bool,
    /// Start from the LLM's label log-probabilities (an offset of the logits) and use them
    /// as features too; `false`: the embedding alone, learned from scratch.
    pub use_llm: bool,
    /// The biases' penalty as a share of `l2` (labels with training examples, two or more
    /// labels seen). A zero-shot LLM leans to some labels (Zhao et al. 2021, "Calibrate before
    /// use"); undoing that lean is what a few labels can teach best, and a bias penalised like
    /// the weights could not: at 1.0 instead of 0.01, random's κ with 50 labels fell from
    /// 0.764 to 0.594 on the sample ads (docs/curation.md#the-round-model-learns-the-llms-lean-from-a-few-labels).
    pub bias_share: f64,
}

impl Default for ProbeParams {
    fn default() -> Self {
        Self {
            l2: 0.1,
            prior_labels: Some(50),
            iterations: 300,
            balanced: true,
            use_llm: true,
            bias_share: 0.01,
        }
    }
}

impl ProbeParams {
    /// The penalty a fit on `n` labels uses.
    pub fn l2_for(&self, n: usize) -> f64 {
        match self.prior_labels {
            Some(m) if n > m => self.l2 * m as f64 / n as f64,
            _ => self.l2,
        }
    }
}

/// Per-feature mean and inverse standard deviation for z-scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Scaling {
    /// Statistics of the rows of `x` (`d` features each).
    pub fn of_rows(x: &[f64], d: usize) -> Self {
        let n = (x.len() / d.max(1)).max(1) as f64;
        let mut mean = vec![0.0; d];
        for row in x.chunks_exact(d) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut scale = vec![0.0; d];
        for row in x.chunks_exact(d) {
            for ((s, v), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        scale.iter_mut().for_each(|s| *s = 1.0 / (*s / n).sqrt().max(1e-6));
        Self { mean, scale }
    }
}

/// A fitted probe: predicts a distribution over `k` labels from one feature row.
#[derive(Debug, Clone)]
pub struct Probe {
    k: usize,
    d: usize,
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// `k × (d + 1)` row-major; the last column is the bias.
    w: Vec<f64>,
}

/// The feature row for one item: its embedding, then (when `llm` is given) the natural
/// log of each LLM label probability.
pub fn features(embedding: &[f32], llm: Option<&[f32]>, out: &mut Vec<f64>) {
    out.clear();
    out.extend(embedding.iter().map(|&x| x as f64));
    if let Some(p) = llm {
        out.extend(p.iter().map(|&x| log_prob(x)));
    }
}

/// ln p, floored so a probability of 0 stays finite.
pub fn log_prob(p: f32) -> f64 {
    (p as f64).max(1e-9).ln()
}

impl Probe {
    /// Fit on `n` rows of `x` (row-major, `d` features each) with labels `y` in `0..k`;
    /// `offset` (`n × k`, row-major), when given, is added to each row's logits.
    pub fn fit(
        x: &[f64],
        d: usize,
        offset: Option<&[f64]>,
        scaling: Option<Scaling>,
        y: &[usize],
        k: usize,
        params: &ProbeParams,
    ) -> Result<Self> {
        let n = y.len();
        if k < 2 {
            return Err(Error::Input("a probe needs at least two labels".into()));
        }
        if n == 0 || d == 0 || x.len() != n * d {
            return Err(Error::Input(format!(
                "a probe needs training rows: got {n} labels for {} feature values of width {d}",
                x.len()
            )));
        }
        if let Some(i) = y.iter().position(|&c| c >= k) {
            return Err(Error::Input(format!(
                "training row {i} has label index {} of {k} labels",
                y[i]
            )));
        }
        if offset.is_some_and(|o| o.len() != n * k || o.iter().any(|v| !v.is_finite())) {
            return Err(Error::Input(format!("a probe's offsets must be {n} × {k} finite values")));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input("a probe's training features must be finite".into()));
        }
        // z-score each feature: with the pool's statistics when given (a training set mined at
        // a boundary has tiny spread in most directions; scaling by it would blow up every
        // item away from the boundary), else the training rows'.
        let Scaling { mean, scale } = match scaling {
            Some(s) if s.mean.len() == d => s,
            Some(s) => {
                return Err(Error::Input(format!(
                    "probe scaling has {} features, the rows {d}",
                    s.mean.len()
                )))
            }
            None => Scaling::of_rows(x, d),
        };
        let z: Vec<f64> = x
            .chunks_exact(d)
            .flat_map(|row| row.iter().zip(&mean).zip(&scale).map(|((v, m), s)| (v - m) * s))
            .collect();
        // Class weights: a class absent from training gets weight 0 (it never appears anyway).
        let mut counts = vec![0usize; k];
        y.iter().for_each(|&c| counts[c] += 1);
        let cw: Vec<f64> = counts
            .iter()
            .map(|&c| {
                if !params.balanced {
                    1.0
                } else if c == 0 {
                    0.0
                } else {
                    n as f64 / (k as f64 * c as f64)
                }
            })
            .collect();
        let wsum: f64 = y.iter().map(|&c| cw[c]).sum::<f64>().max(1e-12);
        // Lipschitz bound of the gradient: softmax CE has Hessian ≤ ½·(Σ w_i x̃_i x̃_iᵀ)/Σw ⊗ I
        // (x̃ with the bias 1 appended), plus l2.
        let l2 = params.l2_for(n);
        let lip = 0.5 * top_eigenvalue(&z, d, y, &cw, wsum) + l2;
        let step = 1.0 / lip.max(1e-9);
        // Each label's bias: lightly penalised (`bias_share · l2`) once two or more labels have
        // examples, so the probe learns the LLM's label bias from a few labels; fully for a label
        // without examples, and for every label while only one has them, so a one-label train set
        // cannot push every item into its label.
        let present = counts.iter().filter(|&&c| c > 0).count();
        let bias_pen: Vec<f64> = counts
            .iter()
            .map(|&c| if c > 0 && present >= 2 { l2 * params.bias_share } else { l2 })
            .collect();
        let cols = d + 1;
        let mut w = vec![0.0; k * cols];
        let mut prev = w.clone();
        let mut look = w.clone();
        let mut grad = vec![0.0; k * cols];
        let mut p = vec![0.0; k];
        for t in 0..params.iterations {
            // Nesterov: evaluate the gradient at w + (t−1)/(t+2)·(w − prev).
            let mom = t as f64 / (t as f64 + 3.0);
            for ((l, a), b) in look.iter_mut().zip(&w).zip(&prev) {
                *l = a + mom * (a - b);
            }
            grad.iter_mut().for_each(|g| *g = 0.0);
            for (i, (row, &c)) in z.chunks_exact(d).zip(y).enumerate() {
                softmax_row(&look, row, offset.map(|o| &o[i * k..(i + 1) * k]), k, &mut p);
                let wi = cw[c] / wsum;
                for j in 0..k {
                    let r = wi * (p[j] - if j == c { 1.0 } else { 0.0 });
                    let g = &mut grad[j * cols..(j + 1) * cols];
                    for (gv, xv) in g.iter_mut().zip(row) {
                        *gv += r * xv;
                    }
                    g[d] += r;
                }
            }
            for (i, (g, wv)) in grad.iter_mut().zip(&look).enumerate() {
                *g += if i % cols == d { bias_pen[i / cols] } else { l2 } * wv;
            }
            std::mem::swap(&mut prev, &mut w);
            for ((nw, l), g) in w.iter_mut().zip(&look).zip(&grad) {
                *nw = l - step * g;
            }
        }
        Ok(Self { k, d, mean, scale, w })
    }

    /// Label probabilities for one feature row (the width it was fitted on), with the row's
    /// offset when it was fitted with offsets.
    pub fn predict(&self, row: &[f64], offset: Option<&[f64]>) -> Vec<f64> {
        let mut z: Vec<f64> =
            row.iter().zip(&self.mean).zip(&self.scale).map(|((v, m), s)| (v - m) * s).collect();
        z.resize(self.d, 0.0);
        let mut p = vec![0.0; self.k];
        softmax_row(&self.w, &z, offset, self.k, &mut p);
        p
    }

    /// Features per row this probe expects.
    pub fn width(&self) -> usize {
        self.d
    }
}

/// The round model of a multi-label project: one binary model per label (one-vs-rest), each
/// predicting the probability that its label applies, independently of the others.
#[derive(Debug, Clone)]
pub struct OneVsRest {
    /// One per label, in label order.
    pub labels: Vec<LabelModel>,
}

/// One label's model in [`OneVsRest`].
#[derive(Debug, Clone)]
pub enum LabelModel {
    /// A two-class probe: class 1 is "the label applies".
    Probe(Probe),
    /// The train split has no positive or no negative example of the label, so there is no
    /// boundary to learn: the label keeps the LLM's own probability when the probe starts from
    /// the LLM, else `prior` (the label's train share, Laplace-smoothed).
    Fallback { prior: f64 },
}

impl LabelModel {
    /// Whether this label fell back instead of being learned.
    pub fn is_fallback(&self) -> bool {
        matches!(self, LabelModel::Fallback { .. })
    }
}

/// The two-class logit offset of a label whose LLM probability is `p`: (ln(1 − p), ln p), so
/// that with no data the binary probe predicts `p` itself.
pub fn binary_offset(p: f32) -> [f64; 2] {
    [log_prob(1.0 - p), log_prob(p)]
}

impl OneVsRest {
    /// Each label's probability of applying for one feature row; `llm` (the row's LLM
    /// probabilities in label order) when the probes were fitted with offsets.
    pub fn predict(&self, row: &[f64], llm: Option<&[f32]>) -> Vec<f64> {
        self.labels
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let p = llm.and_then(|l| l.get(j)).copied();
                match m {
                    LabelModel::Probe(probe) => {
                        probe.predict(row, p.map(binary_offset).as_ref().map(|o| &o[..]))[1]
                    }
                    LabelModel::Fallback { prior } => p.map_or(*prior, f64::from),
                }
            })
            .collect()
    }
}

fn softmax_row(w: &[f64], row: &[f64], offset: Option<&[f64]>, k: usize, p: &mut [f64]) {
    let cols = row.len() + 1;
    let mut max = f64::NEG_INFINITY;
    for j in 0..k {
        let wj = &w[j * cols..(j + 1) * cols];
        let s = wj[..row.len()].iter().zip(row).map(|(a, b)| a * b).sum::<f64>()
            + wj[row.len()]
            + offset.map_or(0.0, |o| o[j]);
        p[j] = s;
        max = max.max(s);
    }
    let mut sum = 0.0;
    for v in p.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    p.iter_mut().for_each(|v| *v /= sum);
}

/// Largest eigenvalue of the weighted second-moment matrix of the rows with a 1 appended,
/// by power iteration (an upper estimate is all the step size needs, so 30 rounds and a
/// 10% margin suffice).
fn top_eigenvalue(z: &[f64], d: usize, y: &[usize], cw: &[f64], wsum: f64) -> f64 {
    let mut v = vec![1.0 / ((d + 1) as f64).sqrt(); d + 1];
    let mut lambda = 1.0;
    for _ in 0..30 {
        let mut out = vec![0.0; d + 1];
        for (row, &c) in z.chunks_exact(d).zip(y) {
            let wi = cw[c] / wsum;
            let dot = row.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>() + v[d];
            for (o, x) in out.iter_mut().zip(row) {
                *o += wi * dot * x;
            }
            out[d] += wi * dot;
        }
        let norm = out.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= 0.0 {
            return 1.0;
        }
        lambda = norm;
        v = out.into_iter().map(|x| x / norm).collect();
    }
    lambda * 1.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn blobs(n: usize, d: usize, sep: f64, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let c = usize::from(i % 4 == 0); // 25% positives
            for f in 0..d {
                let centre = if f == 0 {
                    if c == 1 {
                        sep
                    } else {
                        -sep
                    }
                } else {
                    0.0
                };
                x.push(centre + rng.gen_range(-1.0..1.0));
            }
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn separable_blobs_are_learned() {
        let (x, y) = blobs(400, 8, 1.5, 1);
        let p = Probe::fit(&x, 8, None, None, &y, 2, &ProbeParams::default()).unwrap();
        let right = x.chunks(8).zip(&y).filter(|(r, &c)| {
            let q = p.predict(r, None);
            (q[1] > q[0]) == (c == 1)
        });
        assert!(right.count() >= 396);
        let q = p.predict(&x[..8], None);
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn balanced_weights_raise_recall_of_the_rare_class() {
        // Overlapping classes: the unweighted probe favours the 75% class.
        let (x, y) = blobs(800, 4, 0.4, 2);
        let recall = |balanced| {
            let p = Probe::fit(
                &x,
                4,
                None,
                None,
                &y,
                2,
                &ProbeParams { balanced, ..ProbeParams::default() },
            )
            .unwrap();
            let hits =
                x.chunks(4).zip(&y).filter(|(r, &c)| c == 1 && p.predict(r, None)[1] > 0.5).count();
            hits as f64 / y.iter().filter(|&&c| c == 1).count() as f64
        };
        assert!(recall(true) > recall(false) + 0.05, "{} vs {}", recall(true), recall(false));
    }

    #[test]
    fn with_an_offset_and_no_signal_only_the_lean_is_learned() {
        // Features carry nothing; the offset says class 1 at 80%, forty labels half and half.
        let (x, _) = blobs(40, 3, 0.0, 4);
        let y: Vec<usize> = (0..40).map(|i| usize::from(i % 2 == 0)).collect();
        let prior = [0.2f64.ln(), 0.8f64.ln()];
        let off: Vec<f64> = (0..40).flat_map(|_| prior).collect();
        let mean_p1 = |bias_share| {
            let p = Probe::fit(
                &x,
                3,
                Some(&off),
                None,
                &y,
                2,
                &ProbeParams { balanced: false, bias_share, ..ProbeParams::default() },
            )
            .unwrap();
            x.chunks(3).map(|r| p.predict(r, Some(&prior))[1]).sum::<f64>() / 40.0
        };
        // The lightly penalised bias undoes the LLM's lean; penalised like the weights, the
        // probe stays between the lean and the labels.
        let (light, full) = (mean_p1(0.01), mean_p1(1.0));
        assert!((light - 0.5).abs() < 0.01, "{light}");
        assert!(full > 0.54 && full < 0.8, "{full}");
        assert!(Probe::fit(&x, 3, Some(&off[..10]), None, &y, 2, &ProbeParams::default()).is_err());
    }

    #[test]
    fn a_few_labels_undo_a_leaning_llm() {
        // The label follows feature 0 (25% positives); the LLM says 90% positive for
        // everything. Forty labels: with a lightly penalised bias the probe finds the boundary,
        // with the bias penalised like the weights it keeps calling negatives positive.
        let (x, y) = blobs(440, 4, 1.5, 5);
        let prior = [0.1f64.ln(), 0.9f64.ln()];
        let off: Vec<f64> = (0..40).flat_map(|_| prior).collect();
        let accuracy = |bias_share| {
            let p = Probe::fit(
                &x[..160],
                4,
                Some(&off),
                None,
                &y[..40],
                2,
                &ProbeParams { bias_share, ..ProbeParams::default() },
            )
            .unwrap();
            let right = x[160..].chunks(4).zip(&y[40..]).filter(|(r, &c)| {
                let q = p.predict(r, Some(&prior));
                (q[1] > q[0]) == (c == 1)
            });
            right.count() as f64 / 400.0
        };
        let (light, full) = (accuracy(0.01), accuracy(1.0));
        assert!(light > 0.95 && light > full + 0.05, "light {light}, full {full}");
    }

    #[test]
    fn deterministic_and_refuses_bad_input() {
        let (x, y) = blobs(50, 3, 1.0, 3);
        let a = Probe::fit(&x, 3, None, None, &y, 2, &ProbeParams::default()).unwrap();
        let b = Probe::fit(&x, 3, None, None, &y, 2, &ProbeParams::default()).unwrap();
        assert_eq!(a.w, b.w);
        assert!(Probe::fit(&x, 3, None, None, &y, 1, &ProbeParams::default()).is_err());
        assert!(Probe::fit(&x[..3], 3, None, None, &y, 2, &ProbeParams::default()).is_err());
        let mut bad = x.clone();
        bad[4] = f64::NAN;
        assert!(Probe::fit(&bad, 3, None, None, &y, 2, &ProbeParams::default()).is_err());
        let mut y3 = y.clone();
        y3[0] = 5;
        assert!(Probe::fit(&x, 3, None, None, &y3, 2, &ProbeParams::default()).is_err());
        // One class only: still fits, and leans to it (the penalised bias keeps it modest).
        let ones = vec![1usize; 50];
        let p = Probe::fit(&x, 3, None, None, &ones, 2, &ProbeParams::default()).unwrap();
        assert!(p.predict(&x[..3], None)[1] > 0.6);
    }
}
