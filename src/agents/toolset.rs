//! An agent file's tools made runnable: each `[[tools]]` entry bound to its builtin or
//! command, and each `[[mcp_servers]]` entry started with its tools bound to it
//! (`crate::tools`), plus the set of tools whose calls wait for approval. Not responsible for
//! running them (the orchestrator does) or for checking the file (`spec` did that when it
//! loaded it).
//!
//! MCP tools are exposed under the server's own tool names (characters function-calling
//! APIs refuse become `_`). A name that another tool of the agent has already is an error
//! naming both: the server's `tools = [...]` list leaves one out.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::knowledge::Knowledge;
use crate::tools::command::{CommandTool, DEFAULT_MAX_OUTPUT};
use crate::tools::mcp::{McpServer, McpServerConfig};
use crate::tools::{fs, http, Binding, Tool, ToolError, Toolset};

use super::spec::{AgentSpec, Builtin, McpServerSpec, ToolKind, ToolSpec};

/// An agent's tools with its MCP servers running: every tool bound, and the names of those
/// whose calls wait for the user's approval. The servers stop when the toolset (and every
/// clone of its tools) is dropped.
#[derive(Debug)]
pub struct AgentTools {
    pub toolset: Toolset,
    pub needs_approval: BTreeSet<String>,
}

impl AgentSpec {
    /// The `[[tools]]`, bound and ready to call; `knowledge` serves `kb_search`. MCP
    /// servers' tools are not among them: [`AgentSpec::connect`] starts the servers.
    pub fn toolset(&self, knowledge: &Arc<Knowledge>) -> Result<Toolset, ToolError> {
        Toolset::new(self.bound_tools(knowledge)?)
    }

    /// Every tool of the agent: the `[[tools]]` bound, and each `[[mcp_servers]]` entry
    /// started (all at once), initialized and asked for its tools. The approval set is
    /// [`AgentSpec::tools_needing_approval`] plus the MCP tools that ask under the policy
    /// ([`Approval::needs_approval_mcp`](super::spec::Approval::needs_approval_mcp)).
    /// The model learns the MCP tools from `toolset.defs()` (the agent config lists only the
    /// file's `[[tools]]`). A server that cannot start is an error naming the agent file,
    /// the server, its command and what to do.
    pub async fn connect(&self, knowledge: &Arc<Knowledge>) -> Result<AgentTools, ToolError> {
        let mut tools = self.bound_tools(knowledge)?;
        let mut needs_approval = self.tools_needing_approval();
        let mut origins: Vec<String> = self
            .tools
            .iter()
            .map(|t| format!("the agent's tool `{}`", t.name))
            .collect();
        let configs: Vec<McpServerConfig> = self
            .mcp_servers
            .iter()
            .map(|s| self.mcp_config(s))
            .collect();
        let started = futures::future::join_all(configs.iter().map(McpServer::start)).await;
        let file = self.file.display();
        for (spec, started) in self.mcp_servers.iter().zip(started) {
            let server = started.map_err(|e| ToolError::Config(format!("{file}: {e}")))?;
            for binding in server.bindings() {
                let info = binding.info().clone();
                let origin = format!("MCP server `{}`'s tool `{}`", spec.name, info.name);
                if let Some(i) = tools.iter().position(|t| t.name() == info.exposed) {
                    return Err(ToolError::Config(format!(
                        "{file}: {origin} and {} are both named `{}`; leave the server's one \
                         out with `tools = [...]` on `[[mcp_servers]]` `{}`, or rename the other",
                        origins[i], info.exposed, spec.name
                    )));
                }
                let description = if info.description.trim().is_empty() {
                    format!("Tool `{}` of the MCP server `{}`.", info.name, spec.name)
                } else {
                    info.description.clone()
                };
                let tool = Tool::new(
                    info.exposed.clone(),
                    description,
                    info.input_schema.clone(),
                    Binding::Mcp(binding),
                )
                .map_err(|e| ToolError::Config(format!("{file}: {origin}: {e}")))?;
                if self
                    .approval
                    .needs_approval_mcp(spec.confirm, info.is_destructive())
                {
                    needs_approval.insert(info.exposed.clone());
                }
                tools.push(tool);
                origins.push(origin);
            }
        }
        Ok(AgentTools {
            toolset: Toolset::new(tools)?,
            needs_approval,
        })
    }

    /// How one `[[mcp_servers]]` entry is started: in the agent file's folder, with its
    /// call timeout (or the agent's `tool_timeout_secs`).
    pub fn mcp_config(&self, server: &McpServerSpec) -> McpServerConfig {
        let mut config = McpServerConfig::new(&server.name, server.command.clone(), self.folder());
        config.env = server.env.clone();
        config.tools = server.tools.clone();
        config.call_timeout =
            Duration::from_secs(server.timeout_secs.unwrap_or(self.tool_timeout_secs).max(1));
        config
    }

    /// The agent file's folder, absolute.
    fn folder(&self) -> PathBuf {
        let base = match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf())
    }

    fn bound_tools(&self, knowledge: &Arc<Knowledge>) -> Result<Vec<Tool>, ToolError> {
        let base = self.file.parent().unwrap_or(Path::new("."));
        self.tools
            .iter()
            .map(|tool| self.bind(tool, base, knowledge))
            .collect()
    }

    fn bind(
        &self,
        tool: &ToolSpec,
        base: &Path,
        knowledge: &Arc<Knowledge>,
    ) -> Result<Tool, ToolError> {
        let named = |what: String| ToolError::Config(format!("tool `{}`: {what}", tool.name));
        let timeout =
            Duration::from_secs(tool.timeout_secs.unwrap_or(self.tool_timeout_secs).max(1));
        let max_bytes = tool.max_bytes.map(|b| b as usize);
        let binding = match tool.kind {
            ToolKind::Command => {
                let mut command = CommandTool::new(tool.command.clone(), base);
                command.env_names = tool.env.clone();
                command.timeout = timeout;
                command.max_output = max_bytes.unwrap_or(DEFAULT_MAX_OUTPUT);
                Binding::command(command)?
            }
            ToolKind::Builtin => {
                let Some(builtin) = tool.builtin else {
                    return Err(named("a builtin tool needs `builtin = \"…\"`".into()));
                };
                let root = || {
                    tool.root
                        .as_deref()
                        .map(|r| {
                            if r.is_relative() {
                                base.join(r)
                            } else {
                                r.to_path_buf()
                            }
                        })
                        .ok_or_else(|| named("needs a `root`".into()))
                };
                match builtin {
                    Builtin::ReadFile => Binding::builtin_read_file_capped(
                        root()?,
                        max_bytes.unwrap_or(fs::DEFAULT_MAX_READ),
                    )?,
                    Builtin::ListDir => Binding::builtin_list_dir(root()?)?,
                    Builtin::HttpGet => Binding::http_get_with_timeout(
                        &tool.allow_hosts,
                        max_bytes.unwrap_or(http::DEFAULT_MAX_BYTES),
                        timeout,
                    )?,
                    Builtin::Time => Binding::time(),
                    Builtin::Calculator => Binding::calculator(),
                    Builtin::KbSearch => {
                        let bases = tool
                            .knowledge_base
                            .clone()
                            .map(|b| vec![b])
                            .unwrap_or_else(|| self.knowledge_bases.clone());
                        Binding::kb_search(knowledge.clone(), bases)?
                    }
                }
            }
        };
        let def = tool.to_tool_def();
        Tool::new(def.name, def.description, def.parameters, binding)
    }
}
