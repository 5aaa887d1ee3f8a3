//! Prelabel throughput: items/s in process and over HTTP, as ratios to raw llama.cpp prefill
//! of the same prompts and to a naive generate-and-parse loop.

use std::path::Path;
use std::time::Instant;

use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::median;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::llm::prompt;
use crate::llm::score::{KvCache, LabelScorer, ScorerSpec};
use crate::llm::{context_params, Engine, EngineOptions, LlmError};
use crate::progress::CancelToken;

/// The engine's limit: prefill tokens/s of one 512-token sequence of random tokens, logits for
/// the last token only (what llama-bench calls pp512). Median of `repeats` after a warm-up.
pub fn raw_prefill(engine: &Engine, repeats: usize) -> Result<f64> {
    Ok(median(raw_prefill_at_samples(engine, 0, repeats)?))
}

/// Like [`raw_prefill`], but the 512 tokens follow a `depth`-token prefix already in the cache
/// (attention then spans the prefix too, as it does for every item scored after a long prompt).
pub fn raw_prefill_at(engine: &Engine, depth: usize, repeats: usize) -> Result<f64> {
    Ok(median(raw_prefill_at_samples(engine, depth, repeats)?))
}

/// Each repeat's tokens/s for [`raw_prefill_at`].
fn raw_prefill_at_samples(engine: &Engine, depth: usize, repeats: usize) -> Result<Vec<f64>> {
    let n = 512usize;
    let n_ctx = (depth + n).div_ceil(256) * 256 + 256;
    let mut ctx = engine.context(context_params(n_ctx as u32, n as u32, 1))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let vocab = engine.n_vocab() as i32;
    let toks: Vec<LlamaToken> =
        (0..n).map(|_| LlamaToken(rng.gen_range(100..vocab.max(101)))).collect();
    let prefix: Vec<LlamaToken> =
        (0..depth).map(|_| LlamaToken(rng.gen_range(100..vocab.max(101)))).collect();
    let mut batch = LlamaBatch::new(n, 1);
    let mut rates = Vec::new();
    for rep in 0..=repeats {
        ctx.clear_kv_cache();
        for (c, chunk) in prefix.chunks(n).enumerate() {
            batch.clear();
            for (i, t) in chunk.iter().enumerate() {
                batch
                    .add(*t, (c * n + i) as i32, &[0], false)
                    .map_err(|e| LlmError::Engine(e.to_string()))?;
            }
            ctx.decode(&mut batch).map_err(|e| LlmError::Engine(e.to_string()))?;
        }
        batch.clear();
        for (i, t) in toks.iter().enumerate() {
            batch
                .add(*t, (depth + i) as i32, &[0], i + 1 == n)
                .map_err(|e| LlmError::Engine(e.to_string()))?;
        }
        let t0 = Instant::now();
        ctx.decode(&mut batch).map_err(|e| LlmError::Engine(e.to_string()))?;
        if rep > 0 {
            rates.push(n as f64 / t0.elapsed().as_secs_f64());
        }
    }
    Ok(rates)
}

#[derive(Debug, Serialize)]
pub struct PrelabelBench {
    pub model: String,
    pub threads: usize,
    pub items: usize,
    pub items_per_s: f64,
    pub prompt_tok_per_s: f64,
    pub raw_prefill_tok_per_s: f64,
    /// Raw prefill of 512 tokens after a prefix as long as our prompt's: the engine's limit for
    /// this workload, since every item attends over the cached prefix.
    pub raw_prefill_at_prefix_tok_per_s: f64,
    pub ratio_vs_raw_at_prefix: f64,
    pub naive_items_per_s: f64,
    /// Ours with one item per batch (absent when `batch_items` is already 1).
    pub batch1_items_per_s: Option<f64>,
    pub ratio_vs_batch1: Option<f64>,
    /// The KV-cache layout measured as ours.
    pub kv_cache: &'static str,
    /// With a shared cache: the same scoring with a cache per item (absent otherwise).
    pub separate_items_per_s: Option<f64>,
    pub ratio_vs_separate: Option<f64>,
    pub naive_prompt_tok_per_s: f64,
    pub ratio_vs_raw: f64,
    pub ratio_vs_naive: f64,
    pub naive_unparsable_share: f64,
    pub naive_agreement_with_ours: f64,
    pub prefix_tokens: usize,
    pub batch_items: usize,
    /// The same texts scored with ten labels as a single-label and as a multi-label task.
    pub multi_label: MultiLabelBench,
}

/// Multi-label scoring (an independent probability per label) against single-label scoring
/// of the same labels, texts, batch size and cache layout, in the same run.
#[derive(Debug, Serialize)]
pub struct MultiLabelBench {
    pub labels: usize,
    pub items: usize,
    pub single_items_per_s: f64,
    pub multi_items_per_s: f64,
    /// Multi-label items/s over single-label items/s (the target is at least 0.7).
    pub ratio: f64,
    /// Whether each label took one branch with its yes/no logits read at its end (else both
    /// answers were scored whole).
    pub one_branch: bool,
    pub single_prefix_tokens: usize,
    pub multi_prefix_tokens: usize,
}

impl MultiLabelBench {
    /// The line `hifi bench prelabel` prints.
    pub fn line(&self) -> String {
        format!(
            "multi-label {:.2} items/s vs single-label {:.2} items/s with {} labels: {:.2}× ({} items, {})",
            self.multi_items_per_s,
            self.single_items_per_s,
            self.labels,
            self.ratio,
            self.items,
            if self.one_branch { "one branch per label" } else { "whole yes/no answers" }
        )
    }
}

/// Texts the multi-label line scores (four passes over them).
const MULTI_LABEL_ITEMS: usize = 16;

/// The ten labels the multi-label line measures with when the bench's label set has fewer:
/// the main menu categories of desktop applications (freedesktop.org).
const TEN_LABELS: [(&str, &str); 10] = [
    ("AudioVideo", "Plays, records or edits audio or video."),
    ("Development", "For making software: code editors, compilers, debuggers."),
    ("Education", "For teaching or learning."),
    ("Game", "A game of any kind."),
    ("Graphics", "Views, creates or edits images."),
    ("Network", "Uses the network or internet: browsers, chat, email."),
    ("Office", "Office work: documents, spreadsheets, calendars, finance."),
    ("Science", "Science and engineering: mathematics, astronomy, data analysis."),
    ("System", "System tools: terminals, file managers, monitors."),
    ("Utility", "Small desktop utilities: calculators, archivers, text editors."),
];

/// [`MultiLabelBench`]: ten labels (`cfg`'s first ten, else [`TEN_LABELS`] with `cfg`'s task
/// and item noun) scored single-label and multi-label on up to [`MULTI_LABEL_ITEMS`] of
/// `texts`, in the order single, multi, multi, single so a drifting machine tilts neither.
pub fn multi_label_throughput(
    engine: &Engine,
    cfg: &Config,
    texts: &[String],
) -> Result<MultiLabelBench> {
    let mut single = cfg.clone();
    single.multi_label = false;
    if single.labels.len() >= 10 {
        single.labels.truncate(10);
    } else {
        single.labels =
            TEN_LABELS.iter().map(|(n, d)| crate::config::LabelDef::new(*n, *d)).collect();
    }
    for l in &mut single.labels {
        l.threshold = None;
    }
    let mut multi = single.clone();
    multi.multi_label = true;
    let labels = single.label_names();
    let refs: Vec<&str> = texts.iter().take(MULTI_LABEL_ITEMS).map(String::as_str).collect();
    let parts = |c: &Config| {
        engine.prompt_parts(
            &prompt::system_message(c, &[]),
            &prompt::user_message(c, prompt::TEXT_SLOT),
        )
    };
    let (single_prefix, single_suffix) = parts(&single)?;
    let (multi_prefix, multi_suffix) = parts(&multi)?;
    let spec = |prefix, suffix| ScorerSpec {
        prefix,
        suffix,
        labels: &labels,
        max_item_tokens: cfg.model.max_item_tokens,
        batch_items: cfg.model.batch_items,
        kv: cfg.model.kv_cache,
    };
    let mut one = LabelScorer::new(engine, &spec(&single_prefix, &single_suffix))?;
    let mut many = LabelScorer::per_label(engine, &spec(&multi_prefix, &multi_suffix))?;
    let one_branch = many.reads_next_token();
    let timed = |s: &mut LabelScorer| -> Result<f64> {
        let t0 = Instant::now();
        s.score_batch(&refs)?;
        Ok(t0.elapsed().as_secs_f64())
    };
    // Warm-up, then single, multi, multi, single.
    one.score_batch(&refs[..refs.len().min(2)])?;
    many.score_batch(&refs[..refs.len().min(2)])?;
    let mut single_secs = timed(&mut one)?;
    let mut multi_secs = timed(&mut many)?;
    multi_secs += timed(&mut many)?;
    single_secs += timed(&mut one)?;
    let n = 2.0 * refs.len() as f64;
    let (single_items_per_s, multi_items_per_s) = (n / single_secs, n / multi_secs);
    Ok(MultiLabelBench {
        labels: labels.len(),
        items: refs.len(),
        single_items_per_s,
        multi_items_per_s,
        ratio: multi_items_per_s / single_items_per_s,
        one_branch,
        single_prefix_tokens: single_prefix.tokens.len(),
        multi_prefix_tokens: multi_prefix.tokens.len(),
    })
}

/// Label-logprob scoring with a cached prefix vs raw prefill vs a naive generate-and-parse loop,
/// on the same model, threads and texts.
pub fn prelabel(
    cfg: &Config,
    model: &Path,
    threads: usize,
    texts: &[String],
) -> Result<PrelabelBench> {
    let engine = Engine::load(model, EngineOptions { threads, gpu_layers: cfg.model.gpu_layers })?;
    let labels = cfg.label_names();
    let system = prompt::system_message(cfg, &[]);
    let (prefix, suffix) =
        engine.prompt_parts(&system, &prompt::user_message(cfg, prompt::TEXT_SLOT))?;
    // Raw prefill is measured before and after the rest (the median of both), so a machine
    // that speeds up or slows down during the run does not tilt the ratios.
    let mut raw_samples = raw_prefill_at_samples(&engine, 0, 3)?;

    let spec = ScorerSpec {
        prefix: &prefix,
        suffix: &suffix,
        labels: &labels,
        max_item_tokens: cfg.model.max_item_tokens,
        batch_items: cfg.model.batch_items,
        kv: cfg.model.kv_cache,
    };
    let mut scorer = LabelScorer::new(&engine, &spec)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    scorer.score_batch(&refs[..refs.len().min(2)])?; // warm-up
    let t0 = Instant::now();
    let ours = scorer.score_batch(&refs)?;
    let secs = t0.elapsed().as_secs_f64();
    let tokens: usize = ours.iter().map(|s| s.tokens).sum();
    let prefix_tokens = scorer.prefix_tokens();
    let batch_items = scorer.batch_items();
    drop(scorer);
    // The same scoring one item per batch, and (for a shared cache) with a cache per item, in
    // the same run: what batching and the cache layout each bring.
    let timed = |spec: ScorerSpec| -> Result<f64> {
        let mut s = LabelScorer::new(&engine, &spec)?;
        s.score_batch(&refs[..refs.len().min(2)])?;
        let t0 = Instant::now();
        s.score_batch(&refs)?;
        Ok(t0.elapsed().as_secs_f64())
    };
    let single_secs =
        if batch_items > 1 { Some(timed(ScorerSpec { batch_items: 1, ..spec })?) } else { None };
    let separate_secs = if spec.kv == KvCache::Shared {
        Some(timed(ScorerSpec { kv: KvCache::Separate, ..spec })?)
    } else {
        None
    };
    let multi_label = multi_label_throughput(&engine, cfg, texts)?;
    let raw_at = raw_prefill_at(&engine, prefix_tokens, 3)?;
    raw_samples.extend(raw_prefill_at_samples(&engine, 0, 3)?);
    let raw = median(raw_samples);

    // Naive: each item's whole prompt from scratch, the answer generated greedily and parsed.
    let mut ctx = engine.context(context_params(2048, 512, 1))?;
    let lower: Vec<String> = labels.iter().map(|l| l.to_lowercase()).collect();
    let (mut unparsable, mut agree, mut naive_tokens) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    for (text, ours) in texts.iter().zip(&ours) {
        let mut toks = prefix.tokens.clone();
        let mut item = engine.tokenize_text(text);
        item.truncate(cfg.model.max_item_tokens);
        toks.extend(item);
        toks.extend(engine.tokenize_template(&suffix, false));
        naive_tokens += toks.len();
        let answer = engine.greedy(&mut ctx, &toks, 6)?;
        match parse_answer(&answer, &lower) {
            Some(i) => {
                let (top, _) = crate::store::Prediction {
                    item: 0,
                    probs: ours.probs.clone(),
                    truncated: false,
                }
                .top();
                agree += usize::from(i == top);
            }
            None => unparsable += 1,
        }
    }
    let naive_secs = t0.elapsed().as_secs_f64();
    let n = texts.len().max(1) as f64;
    let items_per_s = texts.len() as f64 / secs;
    let naive_items_per_s = texts.len() as f64 / naive_secs;
    let prompt_tok_per_s = tokens as f64 / secs;
    Ok(PrelabelBench {
        model: model.display().to_string(),
        threads,
        items: texts.len(),
        items_per_s,
        prompt_tok_per_s,
        raw_prefill_tok_per_s: raw,
        raw_prefill_at_prefix_tok_per_s: raw_at,
        ratio_vs_raw_at_prefix: prompt_tok_per_s / raw_at,
        naive_items_per_s,
        naive_prompt_tok_per_s: naive_tokens as f64 / naive_secs,
        ratio_vs_raw: prompt_tok_per_s / raw,
        ratio_vs_naive: items_per_s / naive_items_per_s,
        batch1_items_per_s: single_secs.map(|t| texts.len() as f64 / t),
        ratio_vs_batch1: single_secs.map(|t| t / secs),
        kv_cache: spec.kv.as_str(),
        separate_items_per_s: separate_secs.map(|t| texts.len() as f64 / t),
        ratio_vs_separate: separate_secs.map(|t| t / secs),
        naive_unparsable_share: unparsable as f64 / n,
        naive_agreement_with_ours: agree as f64 / (texts.len() - unparsable).max(1) as f64,
        prefix_tokens,
        batch_items,
        multi_label,
    })
}

/// One measured configuration of the openai backend.
#[derive(Debug, Serialize)]
pub struct HttpRun {
    pub servers: usize,
    pub in_flight: usize,
    pub items_per_s: f64,
    /// Items/s over the local engine's, measured in the same run.
    pub ratio_vs_local: f64,
}

#[derive(Debug, Serialize)]
pub struct HttpPrelabelBench {
    pub model: String,
    pub server_model: String,
    pub servers: usize,
    pub threads: usize,
    pub items: usize,
    pub prompts_per_request: usize,
    /// The local engine on the same GGUF and texts (mean of a run before and one after the
    /// server runs).
    pub local_items_per_s: f64,
    pub local_kv_cache: &'static str,
    pub runs: Vec<HttpRun>,
    /// |local − server| label log-probabilities (each label's tokens and the end of turn).
    pub max_abs_logprob_diff: f64,
    pub mean_abs_logprob_diff: f64,
    /// Items whose most probable label is the same locally and on the server.
    pub top_label_agreement: f64,
}

/// The in-flight counts measured: 1, 2, 4, … up to `max` (and `max` itself).
pub fn in_flight_steps(max: usize) -> Vec<usize> {
    let mut v: Vec<usize> = std::iter::successors(Some(1usize), |x| x.checked_mul(2))
        .take_while(|x| *x < max.max(1))
        .collect();
    v.push(max.max(1));
    v
}

/// The openai backend's label scoring against the local engine on the same GGUF, texts and
/// prompt, in the same run: one server then all of `backend.urls`, each at 1, 2, 4, … up to
/// `backend.in_flight` requests in flight.
pub fn prelabel_http(
    cfg: &Config,
    model: &Path,
    backend: &crate::config::BackendConfig,
    threads: usize,
    texts: &[String],
) -> Result<HttpPrelabelBench> {
    use crate::llm::http::{Client, HttpScorer, PromptText};
    use crate::llm::Scorer;
    backend.validate().map_err(Error::Input)?;
    let labels = cfg.label_names();
    let system = prompt::system_message(cfg, &[]);
    let user = prompt::user_message(cfg, prompt::TEXT_SLOT);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let engine = Engine::load(model, EngineOptions { threads, gpu_layers: cfg.model.gpu_layers })?;
    let (prefix, suffix) = engine.prompt_parts(&system, &user)?;
    let spec = ScorerSpec {
        prefix: &prefix,
        suffix: &suffix,
        labels: &labels,
        max_item_tokens: cfg.model.max_item_tokens,
        batch_items: cfg.model.batch_items,
        kv: cfg.model.kv_cache,
    };
    let local_run = || -> Result<(f64, Vec<crate::llm::score::Scored>)> {
        let mut s = LabelScorer::new(&engine, &spec)?;
        s.score_batch(&refs[..refs.len().min(2)])?; // warm-up
        let t0 = Instant::now();
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(s.batch_items().max(1)) {
            out.extend(s.score_batch(chunk)?);
        }
        Ok((t0.elapsed().as_secs_f64(), out))
    };
    let (local_before, local) = local_run()?;

    let http_scorer = |b: &crate::config::BackendConfig| -> Result<HttpScorer> {
        let vocab = Engine::load_vocab(model)?;
        let text = PromptText::from_engine(&vocab, &system, &user)?;
        let client = Client::new(b, CancelToken::new())?;
        Ok(HttpScorer::new(client, b, text, labels.clone(), Some(vocab), cfg.model.max_item_tokens))
    };
    let mut server_counts = vec![1];
    if backend.urls.len() > 1 {
        server_counts.push(backend.urls.len());
    }
    let mut timed = Vec::new();
    let mut remote = None;
    for &servers in &server_counts {
        for in_flight in in_flight_steps(backend.in_flight) {
            let b = crate::config::BackendConfig {
                urls: backend.urls[..servers].to_vec(),
                in_flight,
                ..backend.clone()
            };
            let mut scorer = http_scorer(&b)?;
            scorer.score_batch(&refs[..1])?; // warm-up: the server has the prompt's prefix cached
            let t0 = Instant::now();
            let out = scorer.score_batch(&refs)?;
            timed.push((servers, in_flight, t0.elapsed().as_secs_f64()));
            remote.get_or_insert(out);
        }
    }
    let (local_after, _) = local_run()?;
    let local_items_per_s = 2.0 * texts.len() as f64 / (local_before + local_after);
    let remote = remote.unwrap_or_default();
    let (mut worst, mut sum, mut n, mut agree) = (0.0f64, 0.0f64, 0usize, 0usize);
    for (a, b) in local.iter().zip(&remote) {
        for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
            worst = worst.max((x - y).abs());
            sum += (x - y).abs();
            n += 1;
        }
        let top = |p: &[f64]| {
            crate::store::Prediction { item: 0, probs: p.to_vec(), truncated: false }.top().0
        };
        agree += usize::from(top(&a.probs) == top(&b.probs));
    }
    Ok(HttpPrelabelBench {
        model: model.display().to_string(),
        server_model: backend.model.clone().unwrap_or_default(),
        servers: backend.urls.len(),
        threads,
        items: texts.len(),
        prompts_per_request: backend.prompts_per_request,
        local_items_per_s,
        local_kv_cache: spec.kv.as_str(),
        runs: timed
            .into_iter()
            .map(|(servers, in_flight, secs)| {
                let items_per_s = texts.len() as f64 / secs;
                HttpRun {
                    servers,
                    in_flight,
                    items_per_s,
                    ratio_vs_local: items_per_s / local_items_per_s,
                }
            })
            .collect(),
        max_abs_logprob_diff: worst,
        mean_abs_logprob_diff: sum / n.max(1) as f64,
        top_label_agreement: agree as f64 / local.len().max(1) as f64,
    })
}

/// The label a generated answer names: it must start with a label name (case-insensitive,
/// after whitespace and quotes). Anything else is unparsable.
pub fn parse_answer(answer: &str, lower_labels: &[String]) -> Option<usize> {
    let a = answer.trim().trim_start_matches(['"', '\'', '*', '`']).to_lowercase();
    let hits: Vec<usize> = lower_labels
        .iter()
        .enumerate()
        .filter(|(_, l)| a.starts_with(l.as_str()))
        .map(|(i, _)| i)
        .collect();
    // The longest matching label wins ("benign" vs "benign-ish" style prefixes).
    hits.into_iter().max_by_key(|&i| lower_labels[i].len())
}

#[cfg(test)]
mod tests {
    use super::parse_answer;

    #[test]
    fn answers_parse_only_when_they_start_with_a_label() {
        let l = vec!["clickbait".to_string(), "benign".to_string()];
        assert_eq!(parse_answer(" Clickbait.", &l), Some(0));
        assert_eq!(parse_answer("\"benign\"", &l), Some(1));
        assert_eq!(parse_answer("This ad is clickbait", &l), None);
        assert_eq!(parse_answer("", &l), None);
    }
}
