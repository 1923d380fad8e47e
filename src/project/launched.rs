//! `launched_hp_searches.txt`: one tab-separated row per launched search, as the seed's launcher
//! kept it, plus the model config path, the launch time and the host.

use std::io::Write;
use std::path::Path;

pub const COLUMNS: [&str; 12] = [
    "job_id",
    "project_folder",
    "search_folder",
    "search_id",
    "log_path",
    "search_config_path",
    "job_config_path",
    "search_command",
    "slurm_command",
    "model_config_path",
    "launched_at",
    "host",
];

pub struct LaunchRecord {
    pub job_id: String,
    pub project_folder: String,
    pub search_folder: String,
    pub search_id: u64,
    pub log_path: String,
    pub search_config_path: String,
    pub job_config_path: String,
    pub search_command: String,
    pub slurm_command: String,
    pub model_config_path: String,
    pub launched_at: String,
    pub host: String,
}

/// Checks, before a search is created, that a row can be appended: the file (or, when it does
/// not exist yet, its folder) is writable. Creates nothing.
pub fn check_writable(project: &Path) -> std::io::Result<()> {
    let path = project.join(super::paths::LAUNCHED_FILE);
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map(|_| ())
    } else {
        // A probe file in the folder tells what permission bits alone cannot (ACLs, read-only
        // mounts, root squash).
        let probe = project.join(format!(".hpsearch-probe-{}", std::process::id()));
        std::fs::File::create(&probe)?;
        std::fs::remove_file(&probe)
    }
}

/// Appends one row; the header is written by whoever creates the file. The file is locked while
/// the row is written so that rows of simultaneous launches never interleave.
pub fn append(project: &Path, record: &LaunchRecord) -> std::io::Result<()> {
    let path = project.join(super::paths::LAUNCHED_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.lock()?;
    let mut text = String::new();
    if file.metadata()?.len() == 0 {
        text.push_str(&COLUMNS.join("\t"));
        text.push('\n');
    }
    let fields = [
        record.job_id.clone(),
        record.project_folder.clone(),
        record.search_folder.clone(),
        record.search_id.to_string(),
        record.log_path.clone(),
        record.search_config_path.clone(),
        record.job_config_path.clone(),
        record.search_command.clone(),
        record.slurm_command.clone(),
        record.model_config_path.clone(),
        record.launched_at.clone(),
        record.host.clone(),
    ];
    let cells: Vec<String> = fields.iter().map(|f| tsv_cell(f)).collect();
    text.push_str(&cells.join("\t"));
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_data()?;
    file.unlock()
}

/// A cell of a tab-separated file: tabs and line breaks inside it are escaped.
pub fn tsv_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}
