//! An agent file's tools made runnable: each `[[tools]]` entry bound to its builtin or
//! command (`crate::tools`). Not responsible for running them (the orchestrator does) or for
//! checking the file (`spec` did that when it loaded it).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::knowledge::Knowledge;
use crate::tools::command::{CommandTool, DEFAULT_MAX_OUTPUT};
use crate::tools::{fs, http, Binding, Tool, ToolError, Toolset};

use super::spec::{AgentSpec, Builtin, ToolKind, ToolSpec};

impl AgentSpec {
    /// The agent's tools, bound and ready to call. `knowledge` serves `kb_search`.
    pub fn toolset(&self, knowledge: &Arc<Knowledge>) -> Result<Toolset, ToolError> {
        let base = self.file.parent().unwrap_or(Path::new("."));
        let tools = self
            .tools
            .iter()
            .map(|tool| self.bind(tool, base, knowledge))
            .collect::<Result<Vec<_>, _>>()?;
        Toolset::new(tools)
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
