//! tupfs: a tup-compatible build system whose dependencies come from a FUSE
//! trace of what every command really read and wrote.
//!
//! Data flows one way: [`tupfile`] (parse) → graph → plan → exec → index
//! (record). See DESIGN.md for the modules and what each owns.

pub mod buildrules;
pub mod cache;
pub mod change;
pub mod cli;
pub mod cone;
pub mod exec;
pub mod graph;
pub mod guard;
pub mod identity;
pub mod index;
pub mod listings;
pub mod lock;
pub mod monitor;
pub mod options;
pub mod outside;
pub mod paths;
pub mod plan;
pub mod project;
pub mod reparse;
pub mod reuse;
pub mod tupcmd;
pub mod tupfile;
pub mod ui;
pub mod verbs;
