//! `hpsearch init`: a new project folder with template configs and analysis scripts.

use super::errors::CliError;
use std::path::Path;

/// The analysis templates `init` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Python,
    R,
    Shell,
    Perl,
    /// All four, with job_config.json running the Python one.
    All,
}

/// One analysis template: its file name, the program that runs it, its text.
struct Template {
    language: Language,
    file: &'static str,
    program: &'static str,
    text: &'static str,
}

const TEMPLATES: [Template; 4] = [
    Template {
        language: Language::Python,
        file: "analysis.py",
        program: "python3",
        text: include_str!("../../examples/templates/analysis_template.py"),
    },
    Template {
        language: Language::R,
        file: "analysis.R",
        program: "Rscript",
        text: include_str!("../../examples/templates/analysis_template.R"),
    },
    Template {
        language: Language::Shell,
        file: "analysis.sh",
        program: "sh",
        text: include_str!("../../examples/templates/analysis_template.sh"),
    },
    Template {
        language: Language::Perl,
        file: "analysis.pl",
        program: "perl",
        text: include_str!("../../examples/templates/analysis_template.pl"),
    },
];

const MODEL_CONFIG: &str = include_str!("../../examples/templates/model_config.json");

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

fn job_config(template: &Template) -> String {
    format!(
        r#"{{
  "environment_path": "{}",
  "script_path": "{}",
  "cluster": "local",
  "time": 1,
  "memory": 4,
  "processor_type": "CPU",
  "num_processors": 1
}}
"#,
        template.program, template.file
    )
}

fn project_readme(templates: &[&Template]) -> String {
    let scripts = if templates.len() == 1 {
        format!(
            "  {}         your analysis script (job_config.json runs it with {})\n",
            templates[0].file, templates[0].program
        )
    } else {
        "  analysis.*          templates of an analysis script in Python, R, shell and Perl:\n                      pick one, point job_config.json's script_path and environment_path at it\n                      (Rscript for R, sh for shell, perl for Perl), and put your analysis in it.\n".to_string()
    };
    format!(
        "This folder is an hpsearch project.

  search_config.json  how to search (search_type: line, grid, random, sobol, bopt; limits)
  job_config.json     how to run one analysis (environment_path + script_path; time in hours)
  model_config.json   your analysis's variables; objects with type/domain are hyperparameters
{scripts}
Run a search here:        hpsearch run .
Or in the background:     hpsearch launch .
Then:                     hpsearch status .   and   hpsearch results hp_search_0
"
    )
}

pub fn init(project: &Path, language: Language) -> Result<(), CliError> {
    let chosen: Vec<&Template> = TEMPLATES
        .iter()
        .filter(|t| language == Language::All || t.language == language)
        .collect();
    let runs = chosen.first().copied().unwrap_or(&TEMPLATES[0]);
    let mut files: Vec<(&str, String)> = vec![
        ("search_config.json", SEARCH_CONFIG.to_string()),
        ("job_config.json", job_config(runs)),
        ("model_config.json", MODEL_CONFIG.to_string()),
    ];
    files.extend(chosen.iter().map(|t| (t.file, t.text.to_string())));
    files.push(("README.txt", project_readme(&chosen)));
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
    for (name, text) in &files {
        let path = project.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::Runtime(format!("{}: cannot write: {e}", path.display())))?;
        if name.starts_with("analysis.") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755));
        }
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    outln!("Created the project {}:", project.display());
    outln!("  {}", names.join(", "));
    outln!(
        "Edit {} and model_config.json, then run:  hpsearch run {}",
        runs.file,
        project.display()
    );
    Ok(())
}
