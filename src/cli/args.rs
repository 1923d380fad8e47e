//! The command line, defined once with clap; every flag documented where it is defined.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "hpsearch", version, about = "Hyperparameter search for analysis scripts in any language", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a project folder with template configs and analysis scripts (Python, R, shell, Perl).
    Init {
        /// The new project folder.
        project: PathBuf,
        /// The analysis template(s) to write; with one language, job_config.json runs it.
        #[arg(long, value_enum, default_value = "all")]
        language: super::init::Language,
    },
    /// Start a search in the background and return; prints its id and where to look. With a Slurm
    /// cluster profile the coordinator itself is submitted as a Slurm job.
    Launch(LaunchArgs),
    /// Run a search in the foreground, with a progress bar (Ctrl-C stops it; `resume` continues it).
    Run(ConfigArgs),
    /// Show a search (PROJECT/hp_search_N), or list the searches of a project folder.
    Status {
        /// A search folder or a project folder.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Show a search's combinations, best first.
    Results {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
        /// Show only the N best.
        #[arg(long)]
        top: Option<usize>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Stop a search and its runs; `resume` continues it later.
    Cancel {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
    },
    /// Continue a search whose coordinator stopped or died; running runs are taken over, not restarted.
    Resume {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
        /// Continue in the background instead of the foreground.
        #[arg(long, conflicts_with = "slurm")]
        detach: bool,
        /// Submit the coordinator as a Slurm job again (for a search whose job_config names a
        /// Slurm cluster profile), as `launch` did; the new job id goes to
        /// launched_hp_searches.txt.
        #[arg(long)]
        slurm: bool,
    },
    /// Write a self-contained HTML report and its figures (PNG and SVG) for a search, running or
    /// ended: history, each hyperparameter against the loss, parallel coordinates, importance and
    /// main effects, failures, run times, the noise of the score and the recommended setting.
    Report {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
        /// Where to write report.html and figures/ (default: SEARCH/report).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Significance level of the test that decides which settings are near the best.
        #[arg(long, default_value_t = crate::report::analysis::DEFAULT_ALPHA)]
        alpha: f64,
    },
    /// Run the best settings of an ended search again, so the report can estimate the noise of the
    /// score and the settings as good as the best.
    Replicate {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
        /// How many of the best distinct settings (default: search_config's replicate_top_k, 5).
        #[arg(long)]
        top: Option<u64>,
        /// Extra runs of each (default: search_config's replicates, or 2 when that is 0).
        #[arg(long)]
        runs: Option<u64>,
    },
    /// Run one setting once on the test data: input.json gets "phase": "test". By default the
    /// report's recommended setting (the simplest of the near-best settings that ran at least twice; when there is none, name one with --combination).
    Test {
        /// The search folder (PROJECT/hp_search_N).
        search: PathBuf,
        /// The combination whose setting to test.
        #[arg(long)]
        combination: Option<u64>,
        /// Significance level used to choose the recommended setting.
        #[arg(long, default_value_t = crate::report::analysis::DEFAULT_ALPHA)]
        alpha: f64,
    },
    /// Serve a live, read-only web page of a project's searches (tables, figures, the report's
    /// analysis) and a JSON API under /api. Binds 127.0.0.1 unless told otherwise.
    Dashboard {
        /// The project folder.
        #[arg(default_value = ".")]
        project: PathBuf,
        /// The address to listen on; anything but a loopback address needs --token.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 8050)]
        port: u16,
        /// A secret every request must carry (?token=SECRET or Authorization: Bearer SECRET).
        #[arg(long, env = "HPSEARCH_DASHBOARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Seconds between the page's refreshes.
        #[arg(long, default_value_t = 5.0)]
        refresh: f64,
    },
    /// Serve the optimiser over the benchmark harness's line protocol (JSON lines on stdin/stdout).
    #[command(name = "ask-tell")]
    AskTell,
    /// Internal: the coordinator of a launched search, detached from the terminal.
    #[command(name = "_coordinate", hide = true)]
    Coordinate {
        search: PathBuf,
        #[arg(long)]
        resumed: bool,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The project folder holding search_config.json, job_config.json and model_config.json.
    #[arg(default_value = ".")]
    pub project: PathBuf,
    /// Path of search_config.json (default: PROJECT/search_config.json).
    #[arg(
        long = "search-config",
        visible_alias = "search_config_path",
        alias = "search-config-path"
    )]
    pub search_config: Option<PathBuf>,
    /// Path of job_config.json (default: PROJECT/job_config.json); its folder is the project folder.
    #[arg(
        long = "job-config",
        visible_alias = "job_config_path",
        alias = "job-config-path"
    )]
    pub job_config: Option<PathBuf>,
    /// Path of model_config.json (default: PROJECT/model_config.json).
    #[arg(
        long = "model-config",
        visible_alias = "model_config_path",
        alias = "model-config-path"
    )]
    pub model_config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn paths(&self) -> [PathBuf; 3] {
        [
            self.search_config
                .clone()
                .unwrap_or_else(|| self.project.join("search_config.json")),
            self.job_config
                .clone()
                .unwrap_or_else(|| self.project.join("job_config.json")),
            self.model_config
                .clone()
                .unwrap_or_else(|| self.project.join("model_config.json")),
        ]
    }
}

#[derive(Args, Debug, Clone)]
pub struct LaunchArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Run the coordinator detached on this machine even when the cluster is a Slurm profile.
    #[arg(long)]
    pub local: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}
