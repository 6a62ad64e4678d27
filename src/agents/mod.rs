//! Agents defined in TOML files: the file format and its checks (`spec`, `schema`) and the
//! catalog of agent files (`catalog`), and their tools bound and MCP servers started
//! (`toolset`), and what every client does to start a run of one (`launch`). Running the
//! agent loop is the orchestrator's.

pub mod catalog;
pub mod launch;
pub mod schema;
pub mod spec;
pub mod template;
pub mod toolset;

pub use catalog::{AgentEntry, Catalog, CatalogError};
pub use spec::{
    AgentSpec, Approval, Builtin, McpServerSpec, Memory, SpecError, ToolKind, ToolSpec,
};
pub use toolset::AgentTools;
