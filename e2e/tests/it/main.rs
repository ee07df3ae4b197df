//! ash's end-to-end tests: the ash binary against a real agentd (embedded through the
//! testkit, or the agentd binary), built as one test binary; each module is one theme, and
//! `common` holds the helpers they share.

// In tests a panic is the failure report, so unwrap says enough.
#![allow(clippy::unwrap_used)]

mod cli;
mod common;
mod doctor;
mod doctor_hooks;
mod durable;
mod edited;
mod exec;
mod grant_options;
mod grants;
mod hook;
mod hook_runtimes;
mod hostile_text;
mod mcp;
mod python_client;
mod python_package;
mod readme;
mod remote;
mod remote_master;
mod remote_notify;
mod runtimes;
mod scripts;
mod security;
mod service;
mod setup;
mod tui;
mod web;
