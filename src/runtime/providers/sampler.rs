//! Token sampling for the local runtime: greedy at temperature 0, otherwise temperature,
//! top-p and a seeded random draw, so the same seed gives the same answer.

use llm_samplers::types::{HasSamplerResources, Logits, Sampler, TID};
use rand::{Rng, SeedableRng};

use crate::runtime::types::Params;

/// Default temperature when a request leaves it unset.
pub const DEFAULT_TEMPERATURE: f32 = 0.7;

/// A sampler with its own random generator (seeded once per call, not per token).
#[derive(Debug)]
pub struct ParamSampler {
    temperature: f32,
    top_p: f32,
    rng: rand::rngs::StdRng,
    last: Option<TID>,
}

impl ParamSampler {
    pub fn new(params: &Params) -> Self {
        let rng = match params.seed {
            Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
            None => rand::rngs::StdRng::from_entropy(),
        };
        ParamSampler {
            temperature: params.temperature.unwrap_or(DEFAULT_TEMPERATURE).max(0.0),
            top_p: params.top_p.unwrap_or(1.0).clamp(0.0, 1.0),
            rng,
            last: None,
        }
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
        _res: &mut dyn HasSamplerResources,
        logits: &'a mut Logits,
    ) -> anyhow::Result<&'a mut Logits> {
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
