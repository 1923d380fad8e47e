//! A small harness so that each integration test reads like a user session: a temporary project
//! folder, config files, a real script, the real `hpsearch` binary, and what the user sees.
#![allow(dead_code)]

pub mod browser;
pub mod slurm;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one `hpsearch` command of a test may take (the slowest take about a minute on
/// a loaded 2-core machine).
pub const COMMAND_LIMIT: Duration = Duration::from_secs(600);

pub fn hpsearch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpsearch"))
}

pub struct Project {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("hpsearch-test-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().to_path_buf();
        Project { _dir: dir, path }
    }

    /// A project in a subfolder with an awkward name (spaces, quotes, `$`...).
    pub fn in_folder_named(name: &str) -> Project {
        let project = Project::new();
        let path = project.path.join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        Project { path, ..project }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    pub fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        self.write(name, &serde_json::to_string_pretty(value).expect("json"))
    }

    /// A script, made executable.
    pub fn script(&self, name: &str, text: &str) -> PathBuf {
        let path = self.write(name, text);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// Writes the three configs: a job running `environment script`, the given model and search.
    pub fn configs(&self, environment: &str, script: &str, model: Value, search: Value) {
        self.write_json(
            "job_config.json",
            &json!({"environment_path": environment, "script_path": script, "cluster": "local",
                    "time": 1, "memory": 1, "processor_type": "CPU", "num_processors": 1,
                    "kill_grace_seconds": 1}),
        );
        self.write_json("model_config.json", &model);
        self.write_json("search_config.json", &search);
    }

    pub fn hpsearch(&self, args: &[&str]) -> Run {
        self.hpsearch_with_env(args, &[])
    }

    /// `hpsearch` with these variables set in its environment (a PATH with a stand-in
    /// command first, say).
    ///
    /// A command that has not ended, with every process that holds its output, within
    /// `COMMAND_LIMIT` is killed, and the test fails with what each process was doing: a hang
    /// shows up as a failure that says where it hung, not as a test that runs until CI gives up.
    pub fn hpsearch_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let child = Command::new(hpsearch_bin())
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&self.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run hpsearch");
        match output_within(child, COMMAND_LIMIT) {
            Ok(output) => Run::from(output),
            Err(pid) => panic!(
                "`hpsearch {}` in {} did not end within {COMMAND_LIMIT:?} (it, or a process it \
                 started that holds its output, hangs); killed it. What the processes were doing:\n{}",
                args.join(" "),
                self.path.display(),
                hang_report(pid, &self.path)
            ),
        }
    }

    pub fn search_dir(&self, id: u64) -> PathBuf {
        self.path.join(format!("hp_search_{id}"))
    }

    /// The seed's data file of a search (`hp_search_data.txt`) as rows of cells, header first.
    pub fn data_file(&self, id: u64) -> Vec<Vec<String>> {
        self.table(id, "hp_search_data.txt")
    }

    /// The full data file (`hp_search_data_full.txt`: the seed's columns, then status,
    /// failure_reason, objective and the metrics) as rows of cells, header first.
    pub fn data_file_full(&self, id: u64) -> Vec<Vec<String>> {
        self.table(id, "hp_search_data_full.txt")
    }

    fn table(&self, id: u64, name: &str) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.search_dir(id).join(name)).expect("data file");
        text.lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect()
    }

    /// The full data file as maps from column name to cell.
    pub fn data_rows(&self, id: u64) -> Vec<std::collections::BTreeMap<String, String>> {
        let rows = self.data_file_full(id);
        let header = rows[0].clone();
        rows[1..]
            .iter()
            .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
            .collect()
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "hpsearch failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Sets one field of the project's job_config.json.
pub fn set_job(project: &Project, field: &str, value: Value) {
    let path = project.path.join("job_config.json");
    let mut job: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    job[field] = value;
    project.write_json("job_config.json", &job);
}

/// The pid of search `id`'s coordinator, from its lock file.
pub fn coordinator_pid(project: &Project, id: u64) -> i32 {
    let text = std::fs::read_to_string(project.search_dir(id).join("coordinator.lock")).unwrap();
    let holder: Value = serde_json::from_str(&text).unwrap();
    holder["pid"].as_i64().unwrap() as i32
}

/// SIGKILL to search 0's coordinator, then waits until `status` calls it dead.
pub fn kill_coordinator_and_wait(project: &Project) {
    let pid = coordinator_pid(project, 0);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(Duration::from_secs(5), "the coordinator to be gone", || {
        project
            .hpsearch(&["status", "hp_search_0"])
            .stdout
            .contains("died")
    });
}

/// A training loop in shell, for the early-stopping tests: `steps` steps of `pause` seconds, objective q + 1/step, each step
/// appended to progress.jsonl; output.json (the final objective) only at the end. Each start
/// appends the run's q to PROJECT/starts.log.
pub fn shell_trainer(project: &Project, steps: u32, pause: &str, ignore_term: bool) {
    let trap = if ignore_term { "trap '' TERM\n" } else { "" };
    project.script(
        "train.sh",
        &format!(
            "#!/bin/sh\n{trap}q=$(sed -n 's/.*\"q\": *\\([0-9.]*\\).*/\\1/p' \"$1\")\necho \"$q\" >> ../../starts.log\ni=1\nwhile [ $i -le {steps} ]; do\n  sleep {pause}\n  printf '{{\"step\": %d, \"objective\": %s, \"lr\": 0.1}}\\n' $i $(awk \"BEGIN {{print $q + 1/$i}}\") >> progress.jsonl\n  i=$((i + 1))\ndone\nawk \"BEGIN {{print $q + 1/{steps}}}\" > output.json\n"
        ),
    );
}

/// Polls `condition` until it holds (or panics after `limit`): tests wait for events, not for time.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn model_two_params() -> Value {
    json!({
        "x": {"type": "continuous", "domain": [0.0, 1.0], "transformation": "linear"},
        "n": {"type": "discrete", "domain": [1, 2, 3], "transformation": "linear"},
        "fixed": "kept"
    })
}

pub fn python_ok() -> &'static str {
    "import json, sys\ncfg = json.load(open(sys.argv[1]))\nimport os\njson.dump({'objective': (cfg['x'] - 0.3) ** 2 + cfg['n'], 'aux': 1.5}, open(os.path.join(cfg['save_folder'], 'output.json'), 'w'))\n"
}

impl Project {
    /// Rows of the full data file of search `id` of a project in a subfolder.
    pub fn data_rows_in(
        &self,
        sub: &str,
        id: u64,
    ) -> Vec<std::collections::BTreeMap<String, String>> {
        let text = std::fs::read_to_string(
            self.path
                .join(sub)
                .join(format!("hp_search_{id}/hp_search_data_full.txt")),
        )
        .expect("data file");
        let rows: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        rows[1..]
            .iter()
            .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
            .collect()
    }
}

/// The output of `child` once it has exited and its output has closed (a process it started may
/// hold the output open after it exits: the runner, while it watches runs); `Err(pid)` when that
/// has not happened within `limit`.
fn output_within(mut child: Child, limit: Duration) -> Result<Output, u32> {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let pid = child.id();
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
        receiver
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hpsearch") {
            break status;
        }
        if Instant::now() >= deadline {
            return Err(pid);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let left = || deadline.saturating_duration_since(Instant::now());
    let stdout = stdout.recv_timeout(left()).map_err(|_| pid)?;
    let stderr = stderr.recv_timeout(left()).map_err(|_| pid)?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// What every process of this machine was doing (`ps`, with the kernel function each waits in),
/// the kernel stacks of the command's processes (those working in `project`; readable as root),
/// and the project's search logs; then kills the command `pid` and those processes.
fn hang_report(pid: u32, project: &std::path::Path) -> String {
    let mut report = String::new();
    let ps = Command::new("ps")
        .args(["-eo", "pid,ppid,pgid,stat,etimes,wchan:32,args", "--forest"])
        .output();
    if let Ok(ps) = ps {
        report.push_str(&String::from_utf8_lossy(&ps.stdout));
    }
    let mut hpsearch_pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(other) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cwd = std::fs::read_link(format!("/proc/{other}/cwd")).unwrap_or_default();
        if other == pid || (cwd.starts_with(project) && other != std::process::id()) {
            hpsearch_pids.push(other);
        }
    }
    for other in &hpsearch_pids {
        for task in std::fs::read_dir(format!("/proc/{other}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let stack = std::fs::read_to_string(task.path().join("stack")).unwrap_or_default();
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            report.push_str(&format!(
                "\n-- pid {other} thread {:?} ({}):\n{stack}",
                task.file_name(),
                name.trim()
            ));
        }
    }
    for search in std::fs::read_dir(project).into_iter().flatten().flatten() {
        let log = search.path().join("log.txt");
        if let Ok(text) = std::fs::read_to_string(&log) {
            report.push_str(&format!("\n-- {}:\n{text}", log.display()));
        }
    }
    for other in hpsearch_pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(other as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    report
}
