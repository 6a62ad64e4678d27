//! Guardrail policies to start from: the commented template a new guardrail opens with in
//! `$EDITOR` (every section, most of them commented out, each saying what it does), and
//! the policy TOML a form of the common policies makes (blocked words, profanity,
//! content filters, sensitive information, one denied topic). Both are plain policy files
//! that `Policy::parse` checks like any other.

use super::sensitive::EntityType;

/// A new guardrail's policy before the user writes it: valid once it is named.
pub const TEMPLATE: &str = r#"# A new guardrail. Name it, switch on the policies it needs (remove the `#`), save
# and quit: the policy is checked, and kept as the guardrail's draft. Reference:
# README, "Guardrails"; a full example: examples/policy.toml.
name = ""                 # letters, digits, - _ . (1-64 characters)
blocked_input_message = "Sorry, I can't help with that request."
blocked_output_message = "The answer was withheld by policy."

[content_filters]         # none | low | medium | high, per direction
# hate = { input = "high", output = "high" }
# insults = { input = "medium", output = "medium" }
# sexual = { input = "high", output = "high" }
# violence = { input = "medium", output = "medium" }
# misconduct = { input = "medium", output = "medium" }
# prompt_attack = { input = "high" }

# [[denied_topics]]       # refused by meaning, not by words
# name = "investment advice"
# definition = "Recommendations about which stocks, bonds or crypto assets to buy or sell."
# examples = ["Should I buy Tesla shares now?"]

[word_filters]
words = []                # exact words and phrases, any case
profanity = false         # the built-in profanity list

[sensitive_information]   # block | anonymize, per entity type
# email = "anonymize"
# phone = "anonymize"
# credit_card = "anonymize"
# aws_access_key = "block"
# private_key = "block"
# [[sensitive_information.regex]]
# name = "ticket"
# pattern = "TCK-[0-9]{6}"
# action = "anonymize"

# [grounding]             # answers must stay with their sources (knowledge bases)
# grounding_threshold = 0.7
# relevance_threshold = 0.5
"#;

/// The strengths a content filter takes.
pub const STRENGTHS: [&str; 4] = ["none", "low", "medium", "high"];

/// What the form of common policies asks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommonPolicy {
    pub name: String,
    /// Words and phrases to block.
    pub words: Vec<String>,
    pub profanity: bool,
    /// `none`, `low`, `medium` or `high` for hate, insults, sexual, violence and
    /// misconduct, both directions.
    pub harmful_content: String,
    /// The same for prompt attacks (inputs only).
    pub prompt_attack: String,
    /// Entity types (`email`, `credit_card`) to anonymize.
    pub anonymize: Vec<String>,
    /// Entity types to block.
    pub block: Vec<String>,
    /// A topic to deny: its name and definition (both, or neither).
    pub topic: Option<(String, String)>,
}

/// Every entity type's name as policies write it (`email`, `credit_card`).
pub fn entity_names() -> Vec<String> {
    EntityType::ALL
        .iter()
        .filter_map(|e| serde_json::to_value(e).ok())
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

impl CommonPolicy {
    /// The policy as TOML, each section commented, for `Policy::parse` to check.
    pub fn to_toml(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut out = format!(
            "# Made from the form of common policies; edit it like any policy file.\nname = {}\n",
            quote(&self.name)
        );
        out.push_str("\n[content_filters]         # none | low | medium | high, per direction\n");
        if self.harmful_content != "none" && !self.harmful_content.is_empty() {
            for c in ["hate", "insults", "sexual", "violence", "misconduct"] {
                out.push_str(&format!(
                    "{c} = {{ input = {s}, output = {s} }}\n",
                    s = quote(&self.harmful_content)
                ));
            }
        }
        if self.prompt_attack != "none" && !self.prompt_attack.is_empty() {
            out.push_str(&format!(
                "prompt_attack = {{ input = {} }}\n",
                quote(&self.prompt_attack)
            ));
        }
        if let Some((name, definition)) = &self.topic {
            out.push_str(&format!(
                "\n[[denied_topics]]         # refused by meaning\nname = {}\ndefinition = {}\n",
                quote(name),
                quote(definition)
            ));
        }
        let words: Vec<String> = self.words.iter().map(|w| quote(w)).collect();
        out.push_str(&format!(
            "\n[word_filters]\nwords = [{}]\nprofanity = {}\n",
            words.join(", "),
            self.profanity
        ));
        out.push_str("\n[sensitive_information]   # block | anonymize, per entity type\n");
        for e in &self.block {
            out.push_str(&format!("{e} = \"block\"\n"));
        }
        for e in self.anonymize.iter().filter(|e| !self.block.contains(e)) {
            out.push_str(&format!("{e} = \"anonymize\"\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::policy::{Policy, PolicyError};

    #[test]
    fn the_template_is_a_policy_once_named() {
        let err = Policy::parse(TEMPLATE, "template").unwrap_err();
        assert!(matches!(err, PolicyError::Invalid { line: 4, .. }), "{err}");
        let named = TEMPLATE.replacen("name = \"\"", "name = \"mine\"", 1);
        let p = Policy::parse(&named, "template").unwrap();
        assert_eq!(p.name, "mine");
    }

    #[test]
    fn the_form_makes_the_policies_it_names() {
        let form = CommonPolicy {
            name: "support \"bot\"".into(),
            words: vec!["frobnicate".into(), "a \"quoted\" phrase".into()],
            profanity: true,
            harmful_content: "high".into(),
            prompt_attack: "medium".into(),
            anonymize: vec!["email".into(), "credit_card".into()],
            block: vec!["aws_access_key".into()],
            topic: Some(("investments".into(), "Advice on buying stocks.".into())),
        };
        // A name with quotes is refused by the policy's own check, named.
        assert!(Policy::parse(&form.to_toml(), "form").is_err());
        let form = CommonPolicy {
            name: "support-bot".into(),
            ..form
        };
        let p = Policy::parse(&form.to_toml(), "form").unwrap();
        assert_eq!(p.word_filters.words.len(), 2);
        assert!(p.word_filters.profanity);
        assert_eq!(p.content_filters.active().len(), 6);
        assert_eq!(p.denied_topics[0].name, "investments");
        let toml = form.to_toml();
        assert!(toml.contains("aws_access_key = \"block\""), "{toml}");
        assert!(toml.contains("email = \"anonymize\""), "{toml}");
        assert!(entity_names().contains(&"credit_card".to_string()));
    }
}
