//! Telemetry: readings that observe the process and its records (resource use, timings).
//! It measures and reports figures; it does not decide anything from them or print them.

pub mod process;
