//! The built-ins that need nothing from outside: `time` (UTC now) and `calculator` (a small
//! recursive-descent evaluator). Not responsible for argument checking against the schema.

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::ToolOutcome;

/// Longest expression the calculator reads.
pub const MAX_EXPRESSION: usize = 1000;
/// Deepest nesting of parentheses and unary signs.
const MAX_DEPTH: usize = 200;

pub fn time_schema() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

pub fn calculator_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "An arithmetic expression, e.g. `(2 + 3) * 4.5 ^ 2 % 7`",
                "minLength": 1,
                "maxLength": MAX_EXPRESSION
            }
        },
        "required": ["expression"],
        "additionalProperties": false
    })
}

/// The current time: `{"utc": RFC 3339, "unix": seconds}`.
pub fn time() -> ToolOutcome {
    let now = Utc::now();
    ToolOutcome::success(json!({
        "utc": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "unix": now.timestamp(),
    }))
}

pub fn calculator(args: Value) -> ToolOutcome {
    let Some(expression) = args.get("expression").and_then(Value::as_str) else {
        return ToolOutcome::failure("give the expression to evaluate as `expression` (a string)");
    };
    match evaluate(expression) {
        Ok(result) => ToolOutcome::success(json!({
            "expression": expression,
            "result": number(result),
        })),
        Err(e) => ToolOutcome::failure(format!("cannot evaluate `{expression}`: {e}")),
    }
}

/// An integral result as a JSON integer, anything else as a float.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// Evaluates `+ - * / % ^`, parentheses, decimals and unary signs. `^` binds tightest
/// and to the right (`2^3^2` = 512), and above unary minus (`-2^2` = -4).
pub fn evaluate(expression: &str) -> Result<f64, String> {
    if expression.len() > MAX_EXPRESSION {
        return Err(format!(
            "the expression is longer than {MAX_EXPRESSION} characters"
        ));
    }
    let mut parser = Parser {
        chars: expression.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_space();
    if parser.pos == parser.chars.len() {
        return Err("the expression is empty".into());
    }
    let value = parser.sum()?;
    parser.skip_space();
    if let Some(c) = parser.peek() {
        return Err(format!("unexpected `{c}` at position {}", parser.pos + 1));
    }
    if !value.is_finite() {
        return Err("the result is too large to represent".into());
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The next non-space character, consumed if it is one of `ops`.
    fn take(&mut self, ops: &[char]) -> Option<char> {
        self.skip_space();
        let c = self.peek().filter(|c| ops.contains(c))?;
        self.pos += 1;
        Some(c)
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        while let Some(op) = self.take(&['+', '-']) {
            let rhs = self.product()?;
            value = if op == '+' { value + rhs } else { value - rhs };
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.unary()?;
        while let Some(op) = self.take(&['*', '/', '%']) {
            let at = self.pos;
            let rhs = self.unary()?;
            value = match op {
                '*' => value * rhs,
                _ if rhs == 0.0 => {
                    return Err(format!("division by zero (the `{op}` at position {at})"))
                }
                '/' => value / rhs,
                _ => value % rhs,
            };
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, String> {
        self.nest()?;
        let value = match self.take(&['-', '+']) {
            Some('-') => self.unary().map(|v| -v),
            Some(_) => self.unary(),
            None => self.power(),
        };
        self.depth -= 1;
        value
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.primary()?;
        if self.take(&['^']).is_some() {
            let exponent = self.unary()?;
            let value = base.powf(exponent);
            if value.is_nan() {
                return Err(format!("{base} ^ {exponent} is not a real number"));
            }
            return Ok(value);
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<f64, String> {
        self.skip_space();
        match self.peek() {
            Some('(') => {
                let open = self.pos + 1;
                self.pos += 1;
                self.nest()?;
                let value = self.sum()?;
                self.depth -= 1;
                if self.take(&[')']).is_none() {
                    return Err(format!("the `(` at position {open} is never closed"));
                }
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) => Err(format!(
                "expected a number or `(` at position {}, found `{c}`",
                self.pos + 1
            )),
            None => Err("the expression ends where a number was expected".into()),
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<f64>()
            .map_err(|_| format!("`{text}` at position {} is not a number", start + 1))
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(evaluate("1 + 2 * 3").unwrap(), 7.0);
        assert_eq!(evaluate("(1 + 2) * 3").unwrap(), 9.0);
        assert_eq!(evaluate("10 / 4").unwrap(), 2.5);
        assert_eq!(evaluate("10 % 4").unwrap(), 2.0);
        assert_eq!(evaluate("2 ^ 3 ^ 2").unwrap(), 512.0);
        assert_eq!(evaluate("-2 ^ 2").unwrap(), -4.0);
        assert_eq!(evaluate("(-2) ^ 2").unwrap(), 4.0);
        assert_eq!(evaluate("2 ^ -1").unwrap(), 0.5);
        assert_eq!(evaluate("--3").unwrap(), 3.0);
        assert_eq!(evaluate("1 - -1").unwrap(), 2.0);
        assert_eq!(evaluate(".5 + 1.25").unwrap(), 1.75);
        assert_eq!(evaluate("  7  ").unwrap(), 7.0);
        assert_eq!(evaluate("8 - 3 - 2").unwrap(), 3.0);
        assert_eq!(evaluate("16 / 4 / 2").unwrap(), 2.0);
    }

    #[test]
    fn errors_are_clear() {
        assert!(evaluate("1 / 0").unwrap_err().contains("division by zero"));
        assert!(evaluate("5 % (2 - 2)")
            .unwrap_err()
            .contains("division by zero"));
        assert!(evaluate("").unwrap_err().contains("empty"));
        assert!(evaluate("1 +").unwrap_err().contains("ends"));
        assert!(evaluate("(1 + 2").unwrap_err().contains("never closed"));
        assert!(evaluate("1 + 2)").unwrap_err().contains("unexpected `)`"));
        assert!(evaluate("1.2.3").unwrap_err().contains("not a number"));
        assert!(evaluate("2 x 3").unwrap_err().contains("unexpected `x`"));
        assert!(evaluate("abs(1)")
            .unwrap_err()
            .contains("expected a number"));
        assert!(evaluate("(-8) ^ 0.5")
            .unwrap_err()
            .contains("not a real number"));
        assert!(evaluate("10 ^ 400").unwrap_err().contains("too large"));
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(evaluate(&deep).is_err());
        assert!(evaluate(&"-".repeat(900)).is_err());
    }

    #[test]
    fn results_are_json_numbers() {
        let outcome = calculator(json!({"expression": "6 * 7"}));
        assert_eq!(outcome.content["result"], json!(42));
        let outcome = calculator(json!({"expression": "1 / 4"}));
        assert_eq!(outcome.content["result"], json!(0.25));
        let outcome = calculator(json!({"expression": "1 / 0"}));
        assert!(outcome
            .observation()
            .starts_with("error: cannot evaluate `1 / 0`"));
    }

    #[test]
    fn time_is_utc() {
        let outcome = time();
        let utc = outcome.content["utc"].as_str().unwrap();
        assert!(utc.ends_with('Z'), "{utc}");
        assert!(outcome.content["unix"].as_i64().unwrap() > 1_700_000_000);
    }
}
