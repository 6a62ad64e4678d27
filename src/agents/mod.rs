//! Agents defined in TOML files: the file format and its checks (`spec`, `schema`) and the
//! catalog of agent files (`catalog`), and their tools bound and MCP servers started
//! (`toolset`). Not responsible for running agents (the orchestrator).

pub mod catalog;
pub mod schema;
pub mod spec;
pub mod toolset;

pub use catalog::{AgentEntry, Catalog, CatalogError};
pub use spec::{
    AgentSpec, Approval, Builtin, McpServerSpec, Memory, SpecError, ToolKind, ToolSpec,
};
pub use toolset::AgentTools;
