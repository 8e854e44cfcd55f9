//! The tracing filesystem: one FUSE mount per build that records, per job,
//! every file a command reads, looks up in vain, and writes.
//!
//! The engine drives it through [`Tracer`]; see DESIGN.md ("Tracing").
