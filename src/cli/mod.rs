//! The `hpsearch` command line: parse, dispatch, and turn every error into one line and an exit code.

mod analysis;
pub mod args;
mod ask_tell;
pub mod errors;
mod init;
mod progress;
mod search;
mod view;

use args::{Cli, Command};
use clap::Parser;

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // Like every Unix tool, end quietly when the reader of our output goes away
    // (`hpsearch results ... | head`): Rust ignores SIGPIPE, and printing would then panic.
    // SAFETY: resetting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let words: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if words.get(1).is_some_and(|w| w == "_wrap") {
        return wrap(&words[2..]);
    }
    if words.get(1).is_some_and(|w| w == "_runner") {
        return crate::executor::runner::serve();
    }
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init { project, language } => init::init(project, *language).map(|_| 0),
        Command::Launch(args) => search::launch(&args.config, args.local),
        Command::Run(args) => search::run(args),
        Command::Status { path } => view::status(path),
        Command::Results {
            search,
            top,
            format,
        } => view::results(search, *top, *format),
        Command::Cancel { search } => search::cancel(search),
        Command::Resume {
            search,
            detach,
            slurm,
        } => search::resume(search, *detach, *slurm),
        Command::Coordinate { search, resumed } => search::coordinate(search, *resumed),
        Command::Report { search, out, alpha } => analysis::report(search, out.as_deref(), *alpha),
        Command::Replicate { search, top, runs } => analysis::replicate(search, *top, *runs),
        Command::Test {
            search,
            combination,
            alpha,
        } => analysis::test(search, *combination, *alpha),
        Command::Dashboard {
            project,
            bind,
            port,
            token,
            refresh,
        } => dashboard(crate::dashboard::DashboardOptions {
            project: project.clone(),
            bind: *bind,
            port: *port,
            token: token.clone(),
            refresh_seconds: *refresh,
        }),
        Command::AskTell => ask_tell::ask_tell(),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {error}");
            error.exit_code()
        }
    }
}

fn dashboard(options: crate::dashboard::DashboardOptions) -> Result<i32, errors::CliError> {
    use crate::dashboard::DashboardError;
    use std::io::Write;
    let result = crate::dashboard::serve(options, |addr| {
        outln!("dashboard: http://{addr}/ (Ctrl-C stops it)");
        let _ = std::io::stdout().flush();
    });
    match result {
        Ok(()) => Ok(0),
        Err(
            e @ (DashboardError::NeedsToken(_)
            | DashboardError::BadRefresh(_)
            | DashboardError::NoSearches(_)),
        ) => Err(errors::CliError::Usage(e.to_string())),
        Err(e) => Err(errors::CliError::Runtime(e.to_string())),
    }
}

/// `hpsearch _wrap`, the parent of every run: parsed apart from the rest of the command line (see
/// `WrapArgs::parse`).
fn wrap(words: &[std::ffi::OsString]) -> i32 {
    match crate::executor::wrapper::WrapArgs::parse(words) {
        Ok(args) => crate::executor::wrapper::run(args),
        Err(message) => {
            errln!("hpsearch _wrap: {message}");
            errors::EXIT_USAGE
        }
    }
}
