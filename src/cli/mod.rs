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
        Command::Wrap {
            folder,
            time_limit,
            grace,
            signal_after,
            command,
        } => Ok(wrap(folder, *time_limit, *grace, *signal_after, command)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

fn dashboard(options: crate::dashboard::DashboardOptions) -> Result<i32, errors::CliError> {
    use crate::dashboard::DashboardError;
    use std::io::Write;
    let result = crate::dashboard::serve(options, |addr| {
        println!("dashboard: http://{addr}/ (Ctrl-C stops it)");
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

fn wrap(
    folder: &std::path::Path,
    time_limit: f64,
    grace: f64,
    signal_after: Option<f64>,
    command: &[String],
) -> i32 {
    let Some((program, arguments)) = command.split_first() else {
        eprintln!("hpsearch _wrap: no command given");
        return errors::EXIT_USAGE;
    };
    let seconds = crate::clock::duration_from_secs;
    crate::executor::wrapper::run(crate::executor::wrapper::WrapArgs {
        folder: folder.to_path_buf(),
        time_limit: seconds(time_limit),
        grace: seconds(grace),
        signal_after: signal_after.map(seconds),
        program: program.into(),
        arguments: arguments.to_vec(),
    })
}
