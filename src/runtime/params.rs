//! Sampling parameters as people type them: one parser and one set of ranges for the CLI
//! flags (`--temperature 0.2`) and the TUI's parameter line (`temperature=0.2 max_tokens=64`).

use super::types::Params;

/// The parameters a person may set, with their ranges (shown in errors and help).
pub const KEYS: &str =
    "temperature (0 to 2), top_p (0 to 1], max_tokens (≥ 1), seed, repeat_penalty (0.5 to 3)";

/// A bad parameter value: names the parameter and the allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(pub String);

impl Params {
    /// Sets one parameter from its text (`default` clears it).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ParamError> {
        match key {
            "temperature" => {
                self.temperature = number(
                    key,
                    value,
                    |t: &f32| (0.0..=2.0).contains(t),
                    "goes from 0 to 2",
                )?
            }
            "top_p" => {
                self.top_p = number(key, value, |p: &f32| *p > 0.0 && *p <= 1.0, "is in (0, 1]")?
            }
            "max_tokens" => {
                self.max_tokens = number(key, value, |n: &u32| *n >= 1, "must be at least 1")?
            }
            "seed" => self.seed = number(key, value, |_: &u64| true, "")?,
            "repeat_penalty" | "repetition_penalty" => {
                self.repetition_penalty = number(
                    key,
                    value,
                    |r: &f32| (0.5..=3.0).contains(r),
                    "goes from 0.5 to 3 (1 is off)",
                )?
            }
            other => {
                return Err(ParamError(format!(
                    "unknown parameter `{other}`; use {KEYS}"
                )))
            }
        }
        Ok(())
    }

    /// Checks every set value against its range (for values that came as numbers).
    pub fn validate(&self) -> Result<(), ParamError> {
        let mut copy = Params::default();
        let pairs = [
            ("temperature", self.temperature.map(|v| v.to_string())),
            ("top_p", self.top_p.map(|v| v.to_string())),
            ("max_tokens", self.max_tokens.map(|v| v.to_string())),
            (
                "repeat_penalty",
                self.repetition_penalty.map(|v| v.to_string()),
            ),
        ];
        for (key, value) in pairs {
            if let Some(value) = value {
                copy.set(key, &value)?;
            }
        }
        Ok(())
    }

    /// Applies `key=value` pairs separated by spaces on top of `self`.
    pub fn with_assignments(&self, text: &str) -> Result<Params, ParamError> {
        let mut p = self.clone();
        for part in text.split_whitespace() {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ParamError(format!("`{part}`: write key=value")))?;
            p.set(key, value)?;
        }
        Ok(p)
    }

    /// The settable parameters as `key=value` pairs (the TUI's editable line).
    pub fn to_assignments(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.temperature {
            parts.push(format!("temperature={t}"));
        }
        if let Some(p) = self.top_p {
            parts.push(format!("top_p={p}"));
        }
        if let Some(n) = self.max_tokens {
            parts.push(format!("max_tokens={n}"));
        }
        if let Some(s) = self.seed {
            parts.push(format!("seed={s}"));
        }
        if let Some(r) = self.repetition_penalty {
            parts.push(format!("repeat_penalty={r}"));
        }
        parts.join(" ")
    }
}

/// One value: `default` (None) or a number that `ok` accepts.
fn number<T: std::str::FromStr>(
    key: &str,
    value: &str,
    ok: impl Fn(&T) -> bool,
    range: &str,
) -> Result<Option<T>, ParamError> {
    if value == "default" {
        return Ok(None);
    }
    let n: T = value
        .parse()
        .map_err(|_| ParamError(format!("{key} `{value}` is not a valid number")))?;
    if !ok(&n) {
        return Err(ParamError(format!(
            "{key} {value} is out of range: it {range}"
        )));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_and_reject_bad_values() {
        let p = Params::default()
            .with_assignments("temperature=0.2 max_tokens=64 seed=7")
            .unwrap();
        assert_eq!(
            (p.temperature, p.max_tokens, p.seed),
            (Some(0.2), Some(64), Some(7))
        );
        assert!(p
            .with_assignments("temperature=9")
            .unwrap_err()
            .0
            .contains("0 to 2"));
        assert!(p
            .with_assignments("top=1")
            .unwrap_err()
            .0
            .contains("unknown parameter"));
        assert!(p
            .with_assignments("max_tokens=0")
            .unwrap_err()
            .0
            .contains("at least 1"));
        assert!(p
            .with_assignments("temperature")
            .unwrap_err()
            .0
            .contains("key=value"));
        assert_eq!(
            p.with_assignments("temperature=default")
                .unwrap()
                .temperature,
            None
        );
        assert_eq!(
            Params::default()
                .with_assignments(&p.to_assignments())
                .unwrap(),
            p
        );
    }

    #[test]
    fn validate_uses_the_same_ranges() {
        let bad = Params {
            top_p: Some(0.0),
            ..Params::default()
        };
        assert!(bad.validate().unwrap_err().0.contains("top_p"));
        let good = Params {
            temperature: Some(0.7),
            repetition_penalty: Some(1.2),
            ..Params::default()
        };
        assert!(good.validate().is_ok());
    }
}
