//! A new agent's file before the user writes it in `$EDITOR`: every common setting with
//! what it does, and the tool kinds commented out. `AgentSpec::parse` checks it like any
//! agent file; it is valid once named.

/// The commented agent file a new agent starts from.
pub const TEMPLATE: &str = r#"# A new agent. Name it, write its instructions, pick its tools (remove the `#`),
# save and quit: the file is checked and kept in the agents folder as NAME.toml.
# Examples: the shipped agents (files, rust-book, order-status, time-mcp).
name = ""                       # lowercase letters, digits, - _
description = ""
instructions = """
You are a helpful assistant. Answer briefly."""
model = "local/smollm2-135m"
max_steps = 6
approval = "on-request"         # never | on-request (tools marked confirm = true) | always
memory = "fresh"                # fresh | session

[params]
temperature = 0.0
max_tokens = 384

# [[tools]]                     # a built-in tool
# name = "read_file"
# kind = "builtin"
# builtin = "read_file"
# root = "."

# [[tools]]                     # a command: the arguments arrive as JSON on stdin
# name = "lookup"
# description = "Look something up."
# kind = "command"
# command = ["./lookup.sh"]
# confirm = true
# [tools.parameters]
# type = "object"
# properties = { query = { type = "string" } }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::spec::AgentSpec;
    use std::path::Path;

    #[test]
    fn the_template_is_an_agent_once_named() {
        assert!(AgentSpec::parse(TEMPLATE, Path::new("/tmp/new.toml")).is_err());
        let named = TEMPLATE.replacen("name = \"\"", "name = \"helper\"", 1);
        let spec = AgentSpec::parse(&named, Path::new("/tmp/helper.toml")).unwrap();
        assert_eq!(spec.name, "helper");
    }
}
