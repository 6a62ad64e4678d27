//! Token sampling for the local runtime: greedy at temperature 0, otherwise temperature,
//! top-p and a seeded random draw, so the same seed gives the same answer.

use llm_samplers::types::{HasSamplerResources, Logits, Sampler, TID};
use rand::{Rng, SeedableRng};

use crate::runtime::types::Params;

/// Default temperature when a request leaves it unset.
pub const DEFAULT_TEMPERATURE: f32 = 0.7;
/// Repetition penalty when sampling and the request leaves it unset (small models
/// otherwise loop on a phrase).
pub const DEFAULT_REPETITION_PENALTY: f32 = 1.1;
/// How many recent tokens the repetition penalty looks at.
const PENALTY_WINDOW: usize = 64;

/// A sampler with its own random generator (seeded once per call, not per token).
#[derive(Debug)]
pub struct ParamSampler {
    temperature: f32,
    top_p: f32,
    repetition_penalty: f32,
    rng: rand::rngs::StdRng,
    last: Option<TID>,
}

impl ParamSampler {
    pub fn new(params: &Params) -> Self {
        let rng = match params.seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_entropy(),
        };
        let temperature = params.temperature.unwrap_or(DEFAULT_TEMPERATURE).max(0.0);
        let default_penalty = if temperature > f32::EPSILON {
            DEFAULT_REPETITION_PENALTY
        } else {
            1.0
        };
        ParamSampler {
            temperature,
            top_p: params.top_p.unwrap_or(1.0).clamp(0.0, 1.0),
            repetition_penalty: params
                .repetition_penalty
                .unwrap_or(default_penalty)
                .max(0.01),
            rng,
            last: None,
        }
    }

    /// Scales down the logits of recently seen tokens (llama.cpp's rule).
    fn penalize(&self, recent: &[TID], logits: &mut Logits) {
        if (self.repetition_penalty - 1.0).abs() < f32::EPSILON || recent.is_empty() {
            return;
        }
        let window = &recent[recent.len().saturating_sub(PENALTY_WINDOW)..];
        for l in logits.iter_mut() {
            if window.contains(&l.token_id) {
                l.logit = if l.logit > 0.0 {
                    l.logit / self.repetition_penalty
                } else {
                    l.logit * self.repetition_penalty
                };
            }
        }
        logits.set_sorted(false);
        logits.set_softmax(false);
    }

    fn pick(&mut self, logits: &mut Logits) -> anyhow::Result<Option<TID>> {
        logits.retain(|l| l.logit.is_finite());
        if logits.is_empty() {
            return Ok(None);
        }
        logits.ensure_sorted()?;
        if self.temperature <= f32::EPSILON {
            return Ok(Some(logits[0].token_id));
        }
        for l in logits.iter_mut() {
            l.logit /= self.temperature;
        }
        logits.set_softmax(false);
        logits.ensure_softmax()?;
        // Keep the smallest prefix whose probability mass reaches top_p.
        let mut mass = 0.0;
        let mut keep = logits.len();
        for (i, l) in logits.iter().enumerate() {
            mass += l.prob;
            if mass >= self.top_p {
                keep = i + 1;
                break;
            }
        }
        let kept = &logits[..keep];
        let total: f32 = kept.iter().map(|l| l.prob).sum();
        let mut draw = self.rng.gen::<f32>() * total;
        for l in kept {
            draw -= l.prob;
            if draw <= 0.0 {
                return Ok(Some(l.token_id));
            }
        }
        Ok(kept.last().map(|l| l.token_id))
    }
}

impl Sampler for ParamSampler {
    fn sample<'a>(
        &mut self,
        res: &mut dyn HasSamplerResources,
        logits: &'a mut Logits,
    ) -> anyhow::Result<&'a mut Logits> {
        let mut recent = Vec::new();
        // Sources without a token history simply get no penalty.
        let _ = res.with_last_tokens(&mut |tokens| recent.extend_from_slice(tokens));
        self.penalize(&recent, logits);
        self.last = self.pick(logits)?;
        Ok(logits)
    }

    fn sampled_token_id(&self) -> Option<TID> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Logits {
        Logits::try_from_iter([0.1f32, 3.0, 2.9, -1.0]).unwrap()
    }

    fn draw(params: &Params, n: usize) -> Vec<TID> {
        let mut s = ParamSampler::new(params);
        (0..n)
            .map(|_| s.pick(&mut logits()).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn temperature_zero_is_greedy() {
        let p = Params {
            temperature: Some(0.0),
            ..Params::default()
        };
        assert!(draw(&p, 20).iter().all(|&t| t == 1));
    }

    #[test]
    fn repetition_penalty_demotes_recent_tokens() {
        let p = Params {
            temperature: Some(0.0),
            repetition_penalty: Some(2.0),
            ..Params::default()
        };
        let s = ParamSampler::new(&p);
        let mut l = logits();
        s.penalize(&[1], &mut l);
        let mut s = s;
        assert_eq!(
            s.pick(&mut l).unwrap(),
            Some(2),
            "token 1 (3.0 -> 1.5) loses to token 2 (2.9)"
        );
        let greedy = ParamSampler::new(&Params {
            temperature: Some(0.0),
            ..Params::default()
        });
        let mut l = logits();
        greedy.penalize(&[1], &mut l);
        let mut greedy = greedy;
        assert_eq!(
            greedy.pick(&mut l).unwrap(),
            Some(1),
            "greedy has no default penalty"
        );
    }

    #[test]
    fn same_seed_same_draws_and_top_p_prunes() {
        let p = Params {
            temperature: Some(1.0),
            seed: Some(7),
            ..Params::default()
        };
        let a = draw(&p, 50);
        assert_eq!(a, draw(&p, 50));
        assert!(
            a.contains(&1) && a.contains(&2),
            "samples more than one token: {a:?}"
        );
        let narrow = Params {
            top_p: Some(0.4),
            ..p
        };
        assert!(
            draw(&narrow, 50).iter().all(|&t| t == 1),
            "top-p keeps only the top token"
        );
    }
}
