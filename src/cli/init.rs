//! `hpsearch init`: a new project folder with template configs and analysis scripts.

use super::errors::CliError;
use std::path::Path;

const TEMPLATES: [(&str, &str); 6] = [
    (
        "model_config.json",
        include_str!("../../examples/templates/model_config.json"),
    ),
    (
        "analysis.py",
        include_str!("../../examples/templates/analysis_template.py"),
    ),
    (
        "analysis.R",
        include_str!("../../examples/templates/analysis_template.R"),
    ),
    (
        "analysis.sh",
        include_str!("../../examples/templates/analysis_template.sh"),
    ),
    (
        "analysis.pl",
        include_str!("../../examples/templates/analysis_template.pl"),
    ),
    ("README.txt", PROJECT_README),
];

const SEARCH_CONFIG: &str = r#"{
  "search_type": "sobol",
  "search_time": 24,
  "max_suggestions": 50,
  "max_active_points": 4,
  "num_grid_points_per_hyperparameter": 3,
  "y_transformation": "none",
  "y_failure_value": "max"
}
"#;

const JOB_CONFIG: &str = r#"{
  "environment_path": "python3",
  "script_path": "analysis.py",
  "cluster": "local",
  "time": 1,
  "memory": 4,
  "processor_type": "CPU",
  "num_processors": 1
}
"#;

const PROJECT_README: &str = "This folder is an hpsearch project.

  search_config.json  how to search (search_type: line, grid, random, sobol; limits)
  job_config.json     how to run one analysis (environment_path + script_path; time in hours)
  model_config.json   your analysis's variables; objects with type/domain are hyperparameters
  analysis.*          templates of an analysis script in Python, R, shell and Perl:
                      pick one, point job_config.json's script_path and environment_path at it
                      (Rscript for R, sh for shell, perl for Perl), and put your analysis in it.

Run a search here:        hpsearch run .
Or in the background:     hpsearch launch .
Then:                     hpsearch status .   and   hpsearch results hp_search_0
";

pub fn init(project: &Path) -> Result<(), CliError> {
    let mut files: Vec<(&str, &str)> = vec![
        ("search_config.json", SEARCH_CONFIG),
        ("job_config.json", JOB_CONFIG),
    ];
    files.extend(TEMPLATES);
    for (name, _) in &files {
        if project.join(name).exists() {
            return Err(CliError::Usage(format!(
                "{}: already exists; `hpsearch init` only writes into a new or empty project folder",
                project.join(name).display()
            )));
        }
    }
    std::fs::create_dir_all(project).map_err(|e| {
        CliError::Runtime(format!(
            "{}: cannot create the folder: {e}",
            project.display()
        ))
    })?;
    for (name, text) in files {
        let path = project.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::Runtime(format!("{}: cannot write: {e}", path.display())))?;
        if name.starts_with("analysis.") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
    }
    println!("Created the project {}:", project.display());
    println!("  search_config.json, job_config.json, model_config.json, analysis.py, analysis.R, analysis.sh, analysis.pl");
    println!(
        "Edit analysis.py (or another template) and model_config.json, then run:  hpsearch run {}",
        project.display()
    );
    Ok(())
}
