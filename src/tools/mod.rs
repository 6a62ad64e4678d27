//! Tools an agent can call: a binding (built-in, command, or a tool of an MCP server) run from
//! a JSON arguments value, checked against the tool's JSON Schema first, to an outcome the
//! model can read.
//! Not responsible for when tools run, approvals, or recording steps (the orchestrator is).

pub mod basic;
pub mod command;
pub mod fs;
pub mod http;
pub mod kb;
pub mod mcp;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::knowledge::Knowledge;
use crate::runtime::types::ToolDef;

pub use command::CommandTool;

/// What a tool call came to: the content the model reads, or the error it is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutcome {
    pub ok: bool,
    /// The result: JSON, or text as `Value::String`; `Null` when there is none.
    pub content: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
    /// The content was cut at the tool's size limit.
    #[serde(default)]
    pub truncated: bool,
}

impl ToolOutcome {
    pub fn success(content: Value) -> ToolOutcome {
        ToolOutcome {
            ok: true,
            content,
            error: None,
            duration_ms: 0.0,
            truncated: false,
        }
    }

    pub fn text(text: impl Into<String>) -> ToolOutcome {
        ToolOutcome::success(Value::String(text.into()))
    }

    /// A failed call; `message` says what went wrong and, where it can, what to do.
    pub fn failure(message: impl Into<String>) -> ToolOutcome {
        ToolOutcome {
            ok: false,
            content: Value::Null,
            error: Some(message.into()),
            duration_ms: 0.0,
            truncated: false,
        }
    }

    pub fn with_content(mut self, content: Value) -> ToolOutcome {
        self.content = content;
        self
    }

    pub fn with_truncated(mut self, truncated: bool) -> ToolOutcome {
        self.truncated = truncated;
        self
    }

    /// What the model sees: the content as compact JSON (text as is), or `error: …`
    /// followed by whatever content the failure still has (a body, a command's stdout).
    pub fn observation(&self) -> String {
        let mut out = if self.ok {
            match &self.content {
                Value::Null => "(no output)".to_string(),
                content => render(content),
            }
        } else {
            let message = self.error.as_deref().unwrap_or("the tool failed");
            match &self.content {
                Value::Null => format!("error: {message}"),
                content => format!("error: {message}\n{}", render(content)),
            }
        };
        if self.truncated {
            out.push_str("\n[output truncated at the tool's size limit]");
        }
        out
    }
}

fn render(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A tool that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("tool `{name}`: its parameters are not a valid JSON Schema: {reason}")]
    Schema { name: String, reason: String },
    #[error("`{0}` is not a valid tool name: use 1-64 letters, digits, `_` or `-`")]
    Name(String),
    #[error("{0}")]
    Config(String),
}

/// What a tool does when called.
pub enum Binding {
    ReadFile(fs::ReadFile),
    ListDir(fs::ListDir),
    HttpGet(http::HttpGet),
    Time,
    Calculator,
    Command(command::CommandTool),
    KbSearch(kb::KbSearch),
    /// A tool of a running MCP server (see [`mcp`]).
    Mcp(mcp::McpTool),
}

impl Binding {
    /// `read_file` under `root` (64 KiB per read).
    pub fn builtin_read_file(root: impl AsRef<Path>) -> Result<Binding, ToolError> {
        Binding::builtin_read_file_capped(root, fs::DEFAULT_MAX_READ)
    }

    pub fn builtin_read_file_capped(
        root: impl AsRef<Path>,
        max_bytes: usize,
    ) -> Result<Binding, ToolError> {
        Ok(Binding::ReadFile(fs::ReadFile::new(
            fs::Root::new(root.as_ref()).map_err(ToolError::Config)?,
            max_bytes,
        )?))
    }

    /// `list_dir` under `root`.
    pub fn builtin_list_dir(root: impl AsRef<Path>) -> Result<Binding, ToolError> {
        Ok(Binding::ListDir(fs::ListDir::new(
            fs::Root::new(root.as_ref()).map_err(ToolError::Config)?,
        )))
    }

    /// `http_get` to exactly these hosts, bodies capped at `max_bytes` (20 s timeout).
    pub fn http_get(hosts: &[String], max_bytes: usize) -> Result<Binding, ToolError> {
        Binding::http_get_with_timeout(hosts, max_bytes, http::DEFAULT_TIMEOUT)
    }

    pub fn http_get_with_timeout(
        hosts: &[String],
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Binding, ToolError> {
        Ok(Binding::HttpGet(
            http::HttpGet::new(hosts, max_bytes, timeout).map_err(ToolError::Config)?,
        ))
    }

    pub fn time() -> Binding {
        Binding::Time
    }

    pub fn calculator() -> Binding {
        Binding::Calculator
    }

    /// A command tool (a subprocess, JSON in on stdin, JSON or text out).
    pub fn command(tool: CommandTool) -> Result<Binding, ToolError> {
        tool.check().map_err(ToolError::Config)?;
        Ok(Binding::Command(tool))
    }

    /// `kb_search` over the named bases.
    pub fn kb_search(knowledge: Arc<Knowledge>, bases: Vec<String>) -> Result<Binding, ToolError> {
        Ok(Binding::KbSearch(
            kb::KbSearch::new(knowledge, bases).map_err(ToolError::Config)?,
        ))
    }

    /// The name a built-in is known by (`command` for a command tool, which is named by
    /// its configuration).
    pub fn default_name(&self) -> &'static str {
        match self {
            Binding::ReadFile(_) => "read_file",
            Binding::ListDir(_) => "list_dir",
            Binding::HttpGet(_) => "http_get",
            Binding::Time => "time",
            Binding::Calculator => "calculator",
            Binding::Command(_) => "command",
            Binding::KbSearch(_) => "kb_search",
            Binding::Mcp(_) => "mcp",
        }
    }

    pub fn default_description(&self) -> String {
        match self {
            Binding::ReadFile(t) => format!(
                "Read a text file under the workspace root (path relative to the root; at most {} bytes per call, use offset for more).",
                t.max_bytes()
            ),
            Binding::ListDir(_) => {
                "List a directory under the workspace root: each entry's name, kind and size.".into()
            }
            Binding::HttpGet(t) => format!(
                "Fetch a URL with HTTP GET (allowed hosts: {}).",
                t.hosts().join(", ")
            ),
            Binding::Time => "The current time: UTC in RFC 3339 and unix seconds.".into(),
            Binding::Calculator => {
                "Evaluate an arithmetic expression: + - * / % ^, parentheses, decimals.".into()
            }
            Binding::Command(_) => "Run a command.".into(),
            Binding::KbSearch(t) => format!(
                "Search the knowledge base ({}) for passages relevant to a query; each comes with its source.",
                t.bases().join(", ")
            ),
            Binding::Mcp(t) => t.info().description.clone(),
        }
    }

    /// The JSON Schema of the arguments a built-in reads (an open object for a command).
    pub fn default_schema(&self) -> Value {
        match self {
            Binding::ReadFile(_) => fs::read_file_schema(),
            Binding::ListDir(_) => fs::list_dir_schema(),
            Binding::HttpGet(_) => http::schema(),
            Binding::Time => basic::time_schema(),
            Binding::Calculator => basic::calculator_schema(),
            Binding::Command(_) => serde_json::json!({"type": "object"}),
            Binding::KbSearch(_) => kb::schema(),
            Binding::Mcp(t) => t.info().input_schema.clone(),
        }
    }

    /// Runs the binding (arguments already checked); cancellation ends it.
    async fn run(&self, args: Value, cancel: CancellationToken) -> ToolOutcome {
        match self {
            // It stops its process group itself on cancellation, and reaps it.
            Binding::Command(t) => t.run(args, cancel).await,
            // It asks the server to cancel the call.
            Binding::Mcp(t) => t.run(args, cancel).await,
            _ => tokio::select! {
                biased;
                outcome = self.run_uncancelled(args) => outcome,
                _ = cancel.cancelled() => ToolOutcome::failure("cancelled before the tool finished"),
            },
        }
    }

    async fn run_uncancelled(&self, args: Value) -> ToolOutcome {
        match self {
            Binding::ReadFile(t) => t.run(args).await,
            Binding::ListDir(t) => t.run(args).await,
            Binding::HttpGet(t) => t.run(args).await,
            Binding::Time => basic::time(),
            Binding::Calculator => basic::calculator(args),
            Binding::KbSearch(t) => t.run(args).await,
            Binding::Command(t) => t.run(args, CancellationToken::new()).await,
            Binding::Mcp(t) => t.run(args, CancellationToken::new()).await,
        }
    }
}

/// A named tool: its description and parameters (what the model is shown), the compiled
/// schema its arguments are checked against, and its binding.
#[derive(Clone)]
pub struct Tool {
    name: String,
    description: String,
    parameters: Value,
    validator: Arc<jsonschema::Validator>,
    binding: Arc<Binding>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("binding", &self.binding.default_name())
            .finish()
    }
}

impl Tool {
    /// A tool under its binding's own name, description and schema.
    pub fn builtin(binding: Binding) -> Result<Tool, ToolError> {
        let name = binding.default_name().to_string();
        let description = binding.default_description();
        let parameters = binding.default_schema();
        Tool::new(name, description, parameters, binding)
    }

    /// A tool with the given name, description and JSON Schema of its arguments.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
        binding: Binding,
    ) -> Result<Tool, ToolError> {
        let name = name.into();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ToolError::Name(name));
        }
        let validator = jsonschema::validator_for(&parameters).map_err(|e| ToolError::Schema {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(Tool {
            name,
            description: description.into(),
            parameters,
            validator: Arc::new(validator),
            binding: Arc::new(binding),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn parameters(&self) -> &Value {
        &self.parameters
    }

    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// The definition a chat request carries.
    pub fn def(&self) -> ToolDef {
        ToolDef {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// Checks arguments against the schema: `Err` names the fields that are wrong.
    pub fn check(&self, args: &Value) -> Result<(), String> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(args)
            .take(3)
            .map(|e| {
                let pointer = e.instance_path.as_str();
                if pointer.is_empty() {
                    format!("arguments: {e}")
                } else {
                    let field = pointer.trim_start_matches('/').replace('/', ".");
                    format!("field `{field}`: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "invalid arguments for `{}`: {}; fix them to match the tool's parameters and call again",
                self.name,
                problems.join("; ")
            ))
        }
    }

    /// Checks the arguments, then runs the tool; never panics on bad input.
    pub async fn call(&self, args: Value, cancel: CancellationToken) -> ToolOutcome {
        let started = Instant::now();
        let mut outcome = if cancel.is_cancelled() {
            ToolOutcome::failure("cancelled before the tool started")
        } else {
            match self.check(&args) {
                Ok(()) => self.binding.run(args, cancel).await,
                Err(message) => ToolOutcome::failure(message),
            }
        };
        outcome.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        outcome
    }

    /// `call` with the arguments as the model wrote them (JSON text; empty means `{}`).
    pub async fn call_text(&self, arguments: &str, cancel: CancellationToken) -> ToolOutcome {
        let args = if arguments.trim().is_empty() {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_str::<Value>(arguments)
        };
        match args {
            Ok(args) => self.call(args, cancel).await,
            Err(e) => ToolOutcome::failure(format!(
                "the arguments for `{}` are not valid JSON ({e}); send a JSON object",
                self.name
            )),
        }
    }
}

/// The tools one agent has, by name.
#[derive(Debug, Clone, Default)]
pub struct Toolset {
    tools: Vec<Tool>,
}

impl Toolset {
    /// A set of tools; two with one name are refused.
    pub fn new(tools: Vec<Tool>) -> Result<Toolset, ToolError> {
        for (i, tool) in tools.iter().enumerate() {
            if tools[..i].iter().any(|t| t.name == tool.name) {
                return Err(ToolError::Config(format!(
                    "two tools are named `{}`; give each a name of its own",
                    tool.name
                )));
            }
        }
        Ok(Toolset { tools })
    }

    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    pub fn defs(&self) -> Vec<ToolDef> {
        self.tools.iter().map(Tool::def).collect()
    }

    /// Calls a tool by name with the model's argument text; an unknown name is an
    /// error observation listing the tools there are.
    pub async fn call_text(
        &self,
        name: &str,
        arguments: &str,
        cancel: CancellationToken,
    ) -> ToolOutcome {
        match self.get(name) {
            Some(tool) => tool.call_text(arguments, cancel).await,
            None => {
                let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
                ToolOutcome::failure(format!(
                    "there is no tool `{name}`; the tools are: {}",
                    if names.is_empty() {
                        "(none)".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn calculator() -> Tool {
        Tool::builtin(Binding::calculator()).unwrap()
    }

    #[tokio::test]
    async fn a_bad_argument_names_the_field() {
        let outcome = calculator()
            .call(json!({"expression": 5}), CancellationToken::new())
            .await;
        assert!(!outcome.ok);
        let seen = outcome.observation();
        assert!(seen.starts_with("error: invalid arguments"), "{seen}");
        assert!(seen.contains("`expression`"), "{seen}");
    }

    #[tokio::test]
    async fn a_missing_argument_is_named() {
        let outcome = calculator().call(json!({}), CancellationToken::new()).await;
        assert!(!outcome.ok);
        assert!(outcome.observation().contains("\"expression\""));
    }

    #[tokio::test]
    async fn argument_text_that_is_not_json_is_an_error() {
        let outcome = calculator()
            .call_text("{expression: 1", CancellationToken::new())
            .await;
        assert!(!outcome.ok);
        assert!(outcome.observation().contains("not valid JSON"));
    }

    #[tokio::test]
    async fn a_cancelled_call_does_not_run() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let outcome = calculator()
            .call(json!({"expression": "1+1"}), cancel)
            .await;
        assert!(!outcome.ok);
        assert!(outcome.observation().contains("cancelled"));
    }

    #[test]
    fn a_bad_schema_or_name_is_a_config_error() {
        let bad = Tool::new(
            "x",
            "",
            json!({"type": "no-such-type"}),
            Binding::calculator(),
        );
        assert!(matches!(bad, Err(ToolError::Schema { .. })));
        let bad = Tool::new("a b", "", json!({}), Binding::calculator());
        assert!(matches!(bad, Err(ToolError::Name(_))));
    }

    #[tokio::test]
    async fn a_toolset_names_its_tools_when_one_is_unknown() {
        let set =
            Toolset::new(vec![calculator(), Tool::builtin(Binding::time()).unwrap()]).unwrap();
        let outcome = set.call_text("shell", "{}", CancellationToken::new()).await;
        assert_eq!(
            outcome.observation(),
            "error: there is no tool `shell`; the tools are: calculator, time"
        );
        assert!(Toolset::new(vec![calculator(), calculator()]).is_err());
        assert_eq!(set.defs().len(), 2);
    }

    #[test]
    fn observations_read_well() {
        assert_eq!(
            ToolOutcome::success(json!({"a": 1})).observation(),
            "{\"a\":1}"
        );
        assert_eq!(ToolOutcome::text("hi").observation(), "hi");
        assert_eq!(
            ToolOutcome::success(Value::Null).observation(),
            "(no output)"
        );
        assert_eq!(
            ToolOutcome::text("abc").with_truncated(true).observation(),
            "abc\n[output truncated at the tool's size limit]"
        );
        assert_eq!(
            ToolOutcome::failure("boom")
                .with_content(json!("partial"))
                .observation(),
            "error: boom\npartial"
        );
    }
}
