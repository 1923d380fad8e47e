//! The live dashboard: a read-only web page and JSON API over a project's searches.

mod server;

pub use server::{serve, DashboardError, DashboardOptions};
