//! An agent definition file (TOML): the serde types, parsing with `file:line: key: message`
//! errors, validation, path resolution and the conversion to the orchestrator's
//! [`AgentConfig`]. Not responsible for finding agent files (see `catalog`) or running tools.
//!
//! Command tools receive their arguments as a JSON object on stdin and print the result on
//! stdout; their program is resolved against the agent file's folder when it is a path
//! (`./lookup.sh`), looked up on `PATH` when it is a bare name. Builtin `root`s have `~`
//! expanded; a relative root is relative to the working directory the agent runs in.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::parse_toml;
use crate::runtime::types::{Params, ToolDef};
use crate::sessions::{AgentConfig, DEFAULT_MAX_TOKENS};

use super::schema;

/// Model calls per run when the file gives no `max_steps`.
pub const DEFAULT_MAX_STEPS: u32 = 8;
/// Per-tool timeout when neither the tool nor the agent gives one.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 30;
/// Allowed range of `max_steps`.
pub const MAX_STEPS_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// Allowed range of timeouts, in seconds.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;

/// One agent definition file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Lowercase letters, digits, `-` and `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The system prompt.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Catalog id of the model (`local/smollm2-135m`).
    pub model: String,
    /// Model calls one run may make (tool round trips count).
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// When tool calls need the user's approval.
    #[serde(default)]
    pub approval: Approval,
    /// Which model calls must call a tool: `auto` (each call chooses), `first` (the run's
    /// first call must call one), `first:TOOL` (must call that one), `required` (every
    /// call).
    #[serde(default)]
    pub tool_choice: crate::sessions::AgentToolChoice,
    /// Knowledge bases whose passages ground the answers, by name.
    #[serde(default)]
    pub knowledge_bases: Vec<String>,
    /// Passages retrieved per question from the knowledge bases.
    #[serde(default)]
    pub knowledge_top_k: Option<usize>,
    /// Guardrail (NAME or NAME@VERSION) applied to every call.
    #[serde(default)]
    pub guardrail: Option<String>,
    /// Whether a run continues the agent's conversation or starts afresh.
    #[serde(default)]
    pub memory: Memory,
    /// Timeout of tools that give none.
    #[serde(default = "default_tool_timeout")]
    pub tool_timeout_secs: u64,
    #[serde(default)]
    pub params: ParamsSpec,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub mcp_servers: Vec<McpServerSpec>,
    /// The file this spec was read from (not a TOML key).
    #[serde(skip)]
    pub file: PathBuf,
}

fn default_max_steps() -> u32 {
    DEFAULT_MAX_STEPS
}

fn default_tool_timeout() -> u64 {
    DEFAULT_TOOL_TIMEOUT_SECS
}

/// When a tool call waits for the user's approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// Never ask (tools and MCP servers marked `confirm = true` still ask).
    Never,
    /// Ask for tools marked `confirm = true`, and for MCP tools their server annotates as
    /// destructive (`destructiveHint: true` on a tool not marked `readOnlyHint: true`).
    #[default]
    OnRequest,
    /// Ask before every tool call.
    Always,
}

impl Approval {
    /// Whether a call of `tool` waits for approval under this policy.
    pub fn needs_approval(self, tool_confirm: bool) -> bool {
        match self {
            Approval::Always => true,
            Approval::Never | Approval::OnRequest => tool_confirm,
        }
    }

    /// Whether a call of an MCP server's tool waits for approval: `server_confirm` is the
    /// server's `confirm = true`, `destructive` what the server's annotations say
    /// ([`McpToolInfo::is_destructive`](crate::tools::mcp::McpToolInfo::is_destructive)).
    pub fn needs_approval_mcp(self, server_confirm: bool, destructive: bool) -> bool {
        match self {
            Approval::Always => true,
            Approval::OnRequest => server_confirm || destructive,
            Approval::Never => server_confirm,
        }
    }
}

/// Whether the conversation is kept across runs of the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Memory {
    /// Keep the conversation across runs.
    #[default]
    Session,
    /// Every run starts with an empty conversation.
    Fresh,
}

/// Sampling parameters as the file gives them ([`Params`] with unknown keys rejected).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
}

impl ParamsSpec {
    /// The runtime's parameters; `max_tokens` defaults to the sessions' default cap.
    pub fn to_params(&self) -> Params {
        Params {
            temperature: self.temperature,
            top_p: self.top_p,
            max_tokens: Some(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
            seed: self.seed,
            stop: self.stop.clone(),
            repetition_penalty: self.repetition_penalty,
        }
    }
}

/// How a tool is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    /// A program run with the arguments as JSON on stdin (no shell).
    Command,
    /// One of Strata's built-in tools.
    Builtin,
}

/// Strata's built-in tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// Read a text file under `root`.
    ReadFile,
    /// List a folder under `root`.
    ListDir,
    /// Fetch a URL from one of `allow_hosts`.
    HttpGet,
    /// The current date and time.
    Time,
    /// Evaluate an arithmetic expression.
    Calculator,
    /// Search the knowledge base `knowledge_base`.
    KbSearch,
}

impl Builtin {
    /// The name as written in agent files.
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::ReadFile => "read_file",
            Builtin::ListDir => "list_dir",
            Builtin::HttpGet => "http_get",
            Builtin::Time => "time",
            Builtin::Calculator => "calculator",
            Builtin::KbSearch => "kb_search",
        }
    }

    /// The description the model sees when the file gives none.
    pub fn default_description(self, tool: &ToolSpec) -> String {
        match self {
            Builtin::ReadFile => {
                "Read a text file by its path, relative to the tool's folder.".to_string()
            }
            Builtin::ListDir => {
                "List the files and folders in a folder, relative to the tool's folder \
                 (\".\" for the folder itself)."
                    .to_string()
            }
            Builtin::HttpGet => format!(
                "Fetch a web page by its URL (only from: {}).",
                tool.allow_hosts.join(", ")
            ),
            Builtin::Time => "Get the current date and time (UTC).".to_string(),
            Builtin::Calculator => {
                "Evaluate an arithmetic expression such as (2 + 3) * 4.".to_string()
            }
            Builtin::KbSearch => format!(
                "Search the knowledge base \"{}\" for passages about a query.",
                tool.knowledge_base.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The argument schema when the file gives none.
    pub fn default_parameters(self) -> Value {
        let one = |name: &str, description: &str| {
            json!({
                "type": "object",
                "properties": {name: {"type": "string", "description": description}},
                "required": [name],
            })
        };
        match self {
            Builtin::ReadFile => one("path", "Path of the file, relative to the tool's folder."),
            Builtin::ListDir => one("path", "Path of the folder, relative to the tool's folder."),
            Builtin::HttpGet => one("url", "The URL to fetch."),
            Builtin::Time => json!({"type": "object", "properties": {}}),
            Builtin::Calculator => one("expression", "The arithmetic expression."),
            Builtin::KbSearch => one("query", "What to search for."),
        }
    }
}

/// One tool of an agent: common keys, then the keys of its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The function name the model calls (`^[a-zA-Z0-9_-]{1,64}$`).
    pub name: String,
    /// What the model reads about the tool (builtins get a default).
    #[serde(default)]
    pub description: String,
    pub kind: ToolKind,
    /// JSON Schema of the arguments (the subset of `schema::check_subset`); builtins get a
    /// default, command tools default to an object without properties.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// Seconds a call may take (after loading: always set, from `tool_timeout_secs`).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Ask the user before every call.
    #[serde(default)]
    pub confirm: bool,
    /// command: the program and its arguments (after loading: a path program is absolute).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// command: environment variables passed down (all others are cleared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// builtin: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    /// read_file / list_dir: the folder the tool may read (`~` expanded after loading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// http_get: the hosts it may fetch from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_hosts: Vec<String>,
    /// read_file / http_get: bytes returned at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// kb_search: the knowledge base searched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_base: Option<String>,
}

impl AgentSpec {
    /// The `[[tools]]` whose calls wait for the user's approval (`confirm`, or the policy);
    /// MCP tools are known once their servers run ([`AgentSpec::connect`] adds them).
    pub fn tools_needing_approval(&self) -> std::collections::BTreeSet<String> {
        self.tools
            .iter()
            .filter(|t| self.approval.needs_approval(t.confirm))
            .map(|t| t.name.clone())
            .collect()
    }
}

impl ToolSpec {
    /// What the model is told about this tool.
    pub fn to_tool_def(&self) -> ToolDef {
        ToolDef {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        }
    }
}

/// An MCP server whose tools the agent may call (started over stdio).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSpec {
    pub name: String,
    /// The program and its arguments (a path program is resolved like a command tool's).
    pub command: Vec<String>,
    /// Environment variables set for the server.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Only these of the server's tools (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Ask the user before every call of this server's tools.
    #[serde(default)]
    pub confirm: bool,
    /// Seconds a call may take (after loading: always set, from `tool_timeout_secs`).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// One problem in an agent file: the 1-based line (when known), the key path
/// (`tools[1].kind`; `.` for the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

/// Why an agent file could not be loaded.
#[derive(Debug)]
pub enum SpecError {
    /// The file could not be read.
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// The file does not parse or does not validate (at least one problem).
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

impl SpecError {
    /// The file concerned.
    pub fn file(&self) -> &Path {
        match self {
            SpecError::Read { file, .. } | SpecError::Invalid { file, .. } => file,
        }
    }

    /// Every problem as one `file:line: key: message` line each.
    pub fn lines(&self) -> Vec<String> {
        match self {
            SpecError::Read { file, source } => {
                vec![format!("{}: cannot read: {source}", file.display())]
            }
            SpecError::Invalid { file, problems } => problems
                .iter()
                .map(|p| {
                    let mut s = file.display().to_string();
                    if let Some(line) = p.line {
                        s.push_str(&format!(":{line}"));
                    }
                    if p.key != "." && p.key != "(syntax)" && !p.key.is_empty() {
                        s.push_str(&format!(": {}", p.key));
                    }
                    s.push_str(&format!(": {}", p.message));
                    s
                })
                .collect(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpecError::Read { source, .. } => Some(source),
            SpecError::Invalid { .. } => None,
        }
    }
}

impl AgentSpec {
    /// Reads, parses and validates the agent file at `path`.
    pub fn load(path: &Path) -> Result<AgentSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        AgentSpec::parse(&text, path)
    }

    /// Parses and validates `text` as the agent file `file` (named in errors; its folder
    /// resolves command paths).
    pub fn parse(text: &str, file: &Path) -> Result<AgentSpec, SpecError> {
        let mut spec: AgentSpec = parse_toml(text).map_err(|e| SpecError::Invalid {
            file: file.to_path_buf(),
            problems: vec![Problem {
                line: Some(e.line),
                key: e.key,
                message: e.message,
            }],
        })?;
        spec.file = file.to_path_buf();
        let dir = agent_dir(file);
        let mut problems = Vec::new();
        spec.validate_and_resolve(&dir, &mut |key: String, message: String| {
            problems.push((key, message));
        });
        if problems.is_empty() {
            return Ok(spec);
        }
        Err(SpecError::Invalid {
            file: file.to_path_buf(),
            problems: problems
                .into_iter()
                .map(|(key, message)| Problem {
                    line: line_of_key(text, &key),
                    key,
                    message,
                })
                .collect(),
        })
    }

    /// The orchestrator's configuration of a run of this agent (MCP tools are not listed:
    /// they are known only once the servers run).
    pub fn to_agent_config(&self) -> AgentConfig {
        AgentConfig {
            model: self.model.clone(),
            instructions: self.instructions.clone(),
            params: self.params.to_params(),
            tools: self.tools.iter().map(ToolSpec::to_tool_def).collect(),
            knowledge_bases: self.knowledge_bases.clone(),
            knowledge_top_k: self.knowledge_top_k,
            guardrail: self.guardrail.clone(),
            max_turns: Some(self.max_steps as usize),
            tool_choice: self.tool_choice.clone(),
        }
    }

    /// The tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }

    /// Checks every rule, reporting each problem as (key path, message); fills defaults
    /// (builtin descriptions and schemas, timeouts) and resolves paths.
    fn validate_and_resolve(&mut self, dir: &Path, report: &mut dyn FnMut(String, String)) {
        if let Err(m) = check_agent_name(&self.name) {
            report("name".into(), m);
        }
        if self.model.trim().is_empty() {
            report("model".into(), "must not be empty".into());
        }
        if !MAX_STEPS_RANGE.contains(&self.max_steps) {
            report(
                "max_steps".into(),
                format!("{} is out of range (1 to 100)", self.max_steps),
            );
        }
        check_timeout(self.tool_timeout_secs, "tool_timeout_secs", report);
        for (i, kb) in self.knowledge_bases.iter().enumerate() {
            if kb.trim().is_empty() {
                report(format!("knowledge_bases[{i}]"), "must not be empty".into());
            }
        }
        if self.knowledge_top_k == Some(0) {
            report("knowledge_top_k".into(), "must be at least 1".into());
        }
        if self
            .guardrail
            .as_deref()
            .is_some_and(|g| g.trim().is_empty())
        {
            report("guardrail".into(), "must not be empty".into());
        }
        self.check_params(report);
        if let Some(tool) = self.tool_choice.tool() {
            // An MCP server's tools are known only when it runs.
            if self.tool(tool).is_none() && self.mcp_servers.is_empty() {
                report(
                    "tool_choice".into(),
                    format!("\"{tool}\" is not one of this agent's tools"),
                );
            }
        }

        let mut names = HashSet::new();
        let tool_timeout = self.tool_timeout_secs;
        for (i, tool) in self.tools.iter_mut().enumerate() {
            let at = format!("tools[{i}]");
            if !names.insert(tool.name.clone()) {
                report(
                    format!("{at}.name"),
                    format!("duplicate tool name \"{}\"", tool.name),
                );
            }
            check_tool(tool, &at, dir, tool_timeout, report);
        }

        let mut servers = HashSet::new();
        for (i, server) in self.mcp_servers.iter_mut().enumerate() {
            let at = format!("mcp_servers[{i}]");
            if let Err(m) = check_agent_name(&server.name) {
                report(format!("{at}.name"), m);
            } else if !servers.insert(server.name.clone()) {
                report(
                    format!("{at}.name"),
                    format!("duplicate MCP server name \"{}\"", server.name),
                );
            }
            resolve_program(&mut server.command, &format!("{at}.command"), dir, report);
            for key in server.env.keys() {
                if !is_env_name(key) {
                    report(
                        format!("{at}.env.{key}"),
                        "not a valid environment variable name".into(),
                    );
                }
            }
            if let Some(tools) = &server.tools {
                for (j, name) in tools.iter().enumerate() {
                    if !is_function_name(name) {
                        report(
                            format!("{at}.tools[{j}]"),
                            format!("\"{name}\" is not a valid tool name"),
                        );
                    }
                }
            }
            match server.timeout_secs {
                Some(t) => check_timeout(t, &format!("{at}.timeout_secs"), report),
                None => server.timeout_secs = Some(tool_timeout),
            }
        }
    }

    fn check_params(&self, report: &mut dyn FnMut(String, String)) {
        let p = &self.params;
        if let Some(t) = p.temperature {
            if !(0.0..=2.0).contains(&t) {
                report(
                    "params.temperature".into(),
                    format!("{t} is out of range (0 to 2)"),
                );
            }
        }
        if let Some(t) = p.top_p {
            if !(t > 0.0 && t <= 1.0) {
                report(
                    "params.top_p".into(),
                    format!("{t} is out of range (above 0, up to 1)"),
                );
            }
        }
        if p.max_tokens == Some(0) {
            report("params.max_tokens".into(), "must be at least 1".into());
        }
        if let Some(r) = p.repetition_penalty {
            if r.is_nan() || r <= 0.0 {
                report(
                    "params.repetition_penalty".into(),
                    format!("{r} must be above 0"),
                );
            }
        }
    }
}

/// The folder an agent file's relative command paths start from.
fn agent_dir(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

fn check_timeout(secs: u64, key: &str, report: &mut dyn FnMut(String, String)) {
    if !TIMEOUT_RANGE.contains(&secs) {
        report(
            key.to_string(),
            format!("{secs} is out of range (1 to 3600 seconds)"),
        );
    }
}

/// Agent and MCP server names: lowercase letters, digits, `-` and `_`, 1 to 64 long.
pub fn check_agent_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 64 {
        return Err(format!("\"{name}\" is longer than 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Err(format!(
            "\"{name}\" may use only lowercase letters, digits, `-` and `_`"
        ));
    }
    Ok(())
}

/// Tool names as function-calling APIs accept them: `^[a-zA-Z0-9_-]{1,64}$`.
pub fn is_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub use crate::tilde::expand_home;

/// Resolves a command's program: a path (it has a `/` or starts with `~`) becomes absolute
/// against `dir` and must exist; a bare name is left for `PATH`.
fn resolve_program(
    command: &mut [String],
    key: &str,
    dir: &Path,
    report: &mut dyn FnMut(String, String),
) {
    let Some(program) = command.first_mut() else {
        report(
            key.to_string(),
            "must name a program (a list: program, then its arguments)".into(),
        );
        return;
    };
    if program.trim().is_empty() {
        report(format!("{key}[0]"), "the program must not be empty".into());
        return;
    }
    let is_path = program.contains('/') || program.contains('\\') || program.starts_with('~');
    if !is_path {
        return;
    }
    let path = expand_home(Path::new(program.as_str()));
    let path = if path.is_absolute() {
        path
    } else {
        dir.join(path)
    };
    if !path.is_file() {
        report(
            format!("{key}[0]"),
            format!("{} not found (looked at {})", program, path.display()),
        );
        return;
    }
    match path.to_str() {
        Some(p) => *program = p.to_string(),
        None => report(
            format!("{key}[0]"),
            format!("{} is not a UTF-8 path", path.display()),
        ),
    }
}

fn check_tool(
    tool: &mut ToolSpec,
    at: &str,
    dir: &Path,
    default_timeout: u64,
    report: &mut dyn FnMut(String, String),
) {
    if !is_function_name(&tool.name) {
        report(
            format!("{at}.name"),
            format!(
                "\"{}\" is not a valid tool name (1 to 64 letters, digits, `_` or `-`)",
                tool.name
            ),
        );
    }
    match tool.timeout_secs {
        Some(t) => check_timeout(t, &format!("{at}.timeout_secs"), report),
        None => tool.timeout_secs = Some(default_timeout),
    }
    // Keys that belong to the other kind are mistakes, not silently ignored.
    let mut foreign = |present: bool, key: &str, owner: &str| {
        if present {
            report(
                format!("{at}.{key}"),
                format!("`{key}` belongs to {owner}, not to this tool"),
            );
        }
    };
    match tool.kind {
        ToolKind::Command => {
            foreign(tool.builtin.is_some(), "builtin", "builtin tools");
            foreign(tool.root.is_some(), "root", "read_file and list_dir tools");
            foreign(
                !tool.allow_hosts.is_empty(),
                "allow_hosts",
                "http_get tools",
            );
            foreign(
                tool.max_bytes.is_some(),
                "max_bytes",
                "read_file and http_get tools",
            );
            foreign(
                tool.knowledge_base.is_some(),
                "knowledge_base",
                "kb_search tools",
            );
            resolve_program(&mut tool.command, &format!("{at}.command"), dir, report);
            for (j, name) in tool.env.iter().enumerate() {
                if !is_env_name(name) {
                    report(
                        format!("{at}.env[{j}]"),
                        format!("\"{name}\" is not a valid environment variable name"),
                    );
                }
            }
            if tool.description.trim().is_empty() {
                report(
                    format!("{at}.description"),
                    "a command tool needs a description (the model reads it)".into(),
                );
            }
        }
        ToolKind::Builtin => {
            foreign(!tool.command.is_empty(), "command", "command tools");
            foreign(!tool.env.is_empty(), "env", "command tools");
            let Some(builtin) = tool.builtin else {
                report(
                    at.to_string(),
                    "missing field `builtin` (read_file, list_dir, http_get, time, calculator \
                     or kb_search)"
                        .into(),
                );
                return;
            };
            check_builtin(tool, builtin, at, report);
            if tool.description.trim().is_empty() {
                tool.description = builtin.default_description(tool);
            }
            if tool.parameters.is_none() {
                tool.parameters = Some(builtin.default_parameters());
            }
        }
    }
    if let Some(parameters) = &tool.parameters {
        if let Err(e) = schema::check_parameters(parameters) {
            let key = if e.path.is_empty() {
                format!("{at}.parameters")
            } else {
                format!("{at}.parameters.{}", e.path)
            };
            report(key, e.message);
        }
    }
}

fn check_builtin(
    tool: &mut ToolSpec,
    builtin: Builtin,
    at: &str,
    report: &mut dyn FnMut(String, String),
) {
    let name = builtin.as_str();
    let uses_root = matches!(builtin, Builtin::ReadFile | Builtin::ListDir);
    let uses_bytes = matches!(builtin, Builtin::ReadFile | Builtin::HttpGet);
    let uses_hosts = builtin == Builtin::HttpGet;
    let uses_kb = builtin == Builtin::KbSearch;
    let mut needs = |key: &str, what: &str| {
        report(
            at.to_string(),
            format!("missing field `{key}` ({what} for {name})"),
        );
    };
    if uses_root && tool.root.is_none() {
        needs("root", "the folder it may read");
    }
    if uses_hosts && tool.allow_hosts.is_empty() {
        needs("allow_hosts", "the hosts it may fetch from");
    }
    if uses_kb && tool.knowledge_base.is_none() {
        needs("knowledge_base", "the knowledge base it searches");
    }
    let mut unused = |present: bool, key: &str| {
        if present {
            report(
                format!("{at}.{key}"),
                format!("`{key}` is not used by {name}"),
            );
        }
    };
    unused(!uses_root && tool.root.is_some(), "root");
    unused(!uses_bytes && tool.max_bytes.is_some(), "max_bytes");
    unused(!uses_hosts && !tool.allow_hosts.is_empty(), "allow_hosts");
    unused(!uses_kb && tool.knowledge_base.is_some(), "knowledge_base");
    if let Some(root) = &tool.root {
        if root.as_os_str().is_empty() {
            report(format!("{at}.root"), "must not be empty".into());
        } else {
            tool.root = Some(expand_home(root));
        }
    }
    for (j, host) in tool.allow_hosts.iter().enumerate() {
        if host.is_empty() || host.contains("://") || host.contains('/') {
            report(
                format!("{at}.allow_hosts[{j}]"),
                format!("\"{host}\" should be a host name such as example.com"),
            );
        }
    }
    if tool.max_bytes == Some(0) {
        report(format!("{at}.max_bytes"), "must be at least 1".into());
    }
    if tool
        .knowledge_base
        .as_deref()
        .is_some_and(|k| k.trim().is_empty())
    {
        report(format!("{at}.knowledge_base"), "must not be empty".into());
    }
}

/// One step of a key path: a table key or a list index.
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn key_segments(key: &str) -> Vec<Seg<'_>> {
    let mut segs = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            segs.push(Seg::Key(name));
        }
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].parse() {
                segs.push(Seg::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    segs
}

/// The line of the deepest part of `key` (`tools[1].parameters.type`) found in `text`.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?.into_inner();
    let mut line = None;
    let mut table: Option<&DeTable<'_>> = Some(&root);
    let mut value: Option<&DeValue<'_>> = None;
    for seg in key_segments(key) {
        match seg {
            Seg::Key(k) => {
                let t = match (table, value) {
                    (Some(t), _) => t,
                    (None, Some(DeValue::Table(t))) => t,
                    _ => break,
                };
                let Some((name, v)) = t.iter().find(|(name, _)| name.get_ref() == k) else {
                    break;
                };
                line = Some(crate::config::line_col(text, name.span().start).0);
                table = None;
                value = Some(v.get_ref());
            }
            Seg::Index(i) => {
                let Some(DeValue::Array(items)) = value else {
                    break;
                };
                let Some(item) = items.get(i) else {
                    break;
                };
                line = Some(crate::config::line_col(text, item.span().start).0);
                table = None;
                value = Some(item.get_ref());
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::types::ToolChoice;

    fn parse(text: &str) -> Result<AgentSpec, SpecError> {
        AgentSpec::parse(text, Path::new("agents/x.toml"))
    }

    fn first_line(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.lines()[0].clone(),
        }
    }

    const MINIMAL: &str = "name = \"x\"\nmodel = \"local/smollm2-135m\"\n";

    #[test]
    fn minimal_file_gets_defaults() {
        let spec = parse(MINIMAL).expect("parses");
        assert_eq!(spec.max_steps, DEFAULT_MAX_STEPS);
        assert_eq!(spec.approval, Approval::OnRequest);
        assert_eq!(spec.memory, Memory::Session);
        let config = spec.to_agent_config();
        assert_eq!(config.max_turns, Some(DEFAULT_MAX_STEPS as usize));
        assert_eq!(config.params.max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert!(config.tools.is_empty());
    }

    #[test]
    fn builtins_get_default_description_and_schema() {
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"calc\"\nkind = \"builtin\"\nbuiltin = \"calculator\"\n\
             [[tools]]\nname = \"notes\"\nkind = \"builtin\"\nbuiltin = \"read_file\"\nroot = \"~/notes\"\n"
        );
        let spec = parse(&text).expect("parses");
        let calc = spec.tool("calc").expect("calc");
        assert!(calc.description.contains("arithmetic"));
        assert_eq!(
            calc.parameters
                .as_ref()
                .and_then(|p| p.pointer("/required/0")),
            Some(&json!("expression"))
        );
        assert_eq!(calc.timeout_secs, Some(DEFAULT_TOOL_TIMEOUT_SECS));
        let notes = spec.tool("notes").expect("notes");
        assert!(!notes.root.as_ref().expect("root").starts_with("~"));
        let defs = spec.to_agent_config().tools;
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[1].parameters["properties"]["path"]["type"], "string");
    }

    #[test]
    fn tool_choice_forms_and_a_tool_the_agent_lacks() {
        let tool = "[[tools]]\nname = \"calc\"\nkind = \"builtin\"\nbuiltin = \"calculator\"\n";
        let spec = parse(&format!("{MINIMAL}tool_choice = \"first:calc\"\n{tool}")).unwrap();
        let choice = spec.to_agent_config().tool_choice;
        assert_eq!(choice.for_step(1), ToolChoice::Tool("calc".into()));
        assert_eq!(choice.for_step(3), ToolChoice::Auto);
        assert_eq!(String::from(choice), "first:calc");
        let spec = parse(&format!("{MINIMAL}tool_choice = \"first\"\n{tool}")).unwrap();
        assert_eq!(spec.tool_choice.for_step(1), ToolChoice::Required);
        let line = first_line(&format!("{MINIMAL}tool_choice = \"first:nope\"\n{tool}"));
        assert!(
            line.contains("tool_choice") && line.contains("nope"),
            "{line}"
        );
        let line = first_line(&format!("{MINIMAL}tool_choice = \"sometimes\"\n"));
        assert!(line.starts_with("agents/x.toml:3:"), "{line}");
        assert!(
            line.contains("auto, first, first:TOOL or required"),
            "{line}"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = format!("{MINIMAL}max_step = 3\n");
        let line = first_line(&text);
        assert!(line.starts_with("agents/x.toml:3:"), "{line}");
        assert!(line.contains("max_step"), "{line}");
    }

    #[test]
    fn unknown_key_in_a_tool() {
        let text = format!(
            "{MINIMAL}\n[[tools]]\nname = \"t\"\nkind = \"builtin\"\nbuiltin = \"time\"\ncolour = 1\n"
        );
        let line = first_line(&text);
        assert!(line.starts_with("agents/x.toml:8:"), "{line}");
        assert!(line.contains("tools[0]"), "{line}");
        assert!(line.contains("colour"), "{line}");
    }

    #[test]
    fn wrong_type_names_key() {
        let text = format!("{MINIMAL}max_steps = \"six\"\n");
        let line = first_line(&text);
        assert!(line.starts_with("agents/x.toml:3: max_steps:"), "{line}");
    }

    #[test]
    fn unknown_kind_names_the_tool() {
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"time\"\n\
             [[tools]]\nname = \"b\"\nkind = \"shell\"\n"
        );
        let line = first_line(&text);
        assert!(
            line.starts_with("agents/x.toml:9: tools[1].kind:"),
            "{line}"
        );
        assert!(line.contains("shell"), "{line}");
    }

    #[test]
    fn unknown_builtin() {
        let text =
            format!("{MINIMAL}[[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"rm_rf\"\n");
        let line = first_line(&text);
        assert!(
            line.starts_with("agents/x.toml:6: tools[0].builtin:"),
            "{line}"
        );
        assert!(line.contains("rm_rf"), "{line}");
    }

    #[test]
    fn duplicate_tool_name() {
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"time\"\n\
             [[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"calculator\"\n"
        );
        let line = first_line(&text);
        assert!(
            line.starts_with("agents/x.toml:8: tools[1].name:"),
            "{line}"
        );
        assert!(line.contains("duplicate"), "{line}");
    }

    #[test]
    fn unsupported_schema_keyword() {
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"a\"\ndescription = \"d\"\nkind = \"command\"\n\
             command = [\"true\"]\n[tools.parameters]\ntype = \"object\"\n\
             properties = {{ id = {{ type = \"string\", pattern = \"^a\" }} }}\n"
        );
        let line = first_line(&text);
        assert!(
            line.starts_with("agents/x.toml:10: tools[0].parameters.properties.id.pattern:"),
            "{line}"
        );
        assert!(
            line.contains("unsupported schema keyword `pattern`"),
            "{line}"
        );
    }

    #[test]
    fn missing_root() {
        let text = format!(
            "{MINIMAL}\n[[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"list_dir\"\n"
        );
        let line = first_line(&text);
        assert!(line.starts_with("agents/x.toml:"), "{line}");
        assert!(line.contains("tools[0]: missing field `root`"), "{line}");
    }

    #[test]
    fn several_problems_are_all_reported() {
        let text = "name = \"Bad Name\"\nmodel = \"m\"\nmax_steps = 0\ntool_timeout_secs = 0\n";
        let err = parse(text).expect_err("invalid");
        let lines = err.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("agents/x.toml:1: name:"), "{lines:?}");
        assert!(
            lines[1].starts_with("agents/x.toml:3: max_steps:"),
            "{lines:?}"
        );
        assert!(
            lines[2].starts_with("agents/x.toml:4: tool_timeout_secs:"),
            "{lines:?}"
        );
    }

    #[test]
    fn command_paths_resolve_against_the_agent_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("run.sh"), "#!/bin/sh\n").expect("write");
        let file = dir.path().join("a.toml");
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"a\"\ndescription = \"d\"\nkind = \"command\"\n\
             command = [\"./run.sh\", \"--x\"]\n\
             [[tools]]\nname = \"b\"\ndescription = \"d\"\nkind = \"command\"\n\
             command = [\"./missing.sh\"]\n"
        );
        let err = AgentSpec::parse(&text, &file).expect_err("missing script");
        let lines = err.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("tools[1].command[0]: ./missing.sh not found"),
            "{lines:?}"
        );

        let ok = text.replace("./missing.sh", "./run.sh");
        let spec = AgentSpec::parse(&ok, &file).expect("parses");
        let program = PathBuf::from(&spec.tools[0].command[0]);
        assert!(program.is_absolute() && program.ends_with("run.sh"));
        assert_eq!(spec.tools[0].command[1], "--x");
    }

    #[test]
    fn foreign_keys_are_rejected() {
        let text = format!(
            "{MINIMAL}[[tools]]\nname = \"a\"\nkind = \"builtin\"\nbuiltin = \"time\"\nroot = \".\"\n"
        );
        let line = first_line(&text);
        assert!(
            line.contains("tools[0].root: `root` is not used by time"),
            "{line}"
        );
    }

    #[test]
    fn params_spec_covers_every_runtime_param() {
        // A new field in runtime Params must be added to ParamsSpec too.
        let full = Params {
            temperature: Some(0.5),
            top_p: Some(0.9),
            max_tokens: Some(10),
            seed: Some(1),
            stop: vec!["x".into()],
            repetition_penalty: Some(1.1),
        };
        let text = toml::to_string(&full).expect("serialize");
        let spec: ParamsSpec = toml::from_str(&text).expect("every Params key is known");
        assert_eq!(spec.to_params(), full);
    }
}
