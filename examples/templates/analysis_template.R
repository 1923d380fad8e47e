#!/usr/bin/env Rscript
# Template analysis script for hpsearch (base R only).
#
# hpsearch runs this as:   ENVIRONMENT analysis_template.R /abs/path/to/input.json
# (ENVIRONMENT is typically "Rscript"), with the current directory set to the
# run's folder.
#
# input.json holds every variable of your model_config.json, with each
# hyperparameter replaced by one concrete value, plus "save_folder" (the run's
# folder). This script must write {save_folder}/output.json containing the
# objective (lower is better unless the search's y_transformation is
# "neg"/"neglog"): a number, a list whose first element is the objective, or an
# object {"objective": ..., other numeric metrics ...}.
#
# Long runs: with "checkpoint_signal_seconds": N in job_config.json this script
# gets SIGUSR1 N seconds before its time limit, time to save its state.
# In R, base R cannot catch signals: keep a checkpoint file current instead.
# With "requeue_on_timeout": true in a Slurm cluster profile, a run that reached
# its limit after writing a file or folder named checkpoint* in its folder is
# submitted again, and can continue from it.
#
# LIMITATION: base R has no JSON parser. read_flat_json() below is a small
# regex-based reader that only understands top-level keys whose values are
# plain numbers or simple strings (no escaped quotes, lists or nested objects).
# For real use, install jsonlite and replace it with
#   config <- jsonlite::fromJSON(args[1])
# and write the output with jsonlite::write_json(..., auto_unbox = TRUE, digits = NA).

read_flat_json <- function(path) {
  text <- paste(readLines(path, warn = FALSE), collapse = " ")
  values <- list()
  # "key": "string value"
  m <- regmatches(text, gregexpr('"[^"]+"[[:space:]]*:[[:space:]]*"[^"]*"', text))[[1]]
  for (kv in m) {
    parts <- regmatches(kv, regexec('"([^"]+)"[[:space:]]*:[[:space:]]*"([^"]*)"', kv))[[1]]
    values[[parts[2]]] <- parts[3]
  }
  # "key": number
  num <- "-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?"
  m <- regmatches(text, gregexpr(paste0('"[^"]+"[[:space:]]*:[[:space:]]*', num), text))[[1]]
  for (kv in m) {
    parts <- regmatches(kv, regexec(paste0('"([^"]+)"[[:space:]]*:[[:space:]]*(', num, ')'), kv))[[1]]
    values[[parts[2]]] <- as.numeric(parts[3])
  }
  values
}

# 1. Read the variables chosen for this run.
args <- commandArgs(trailingOnly = TRUE)
config <- read_flat_json(args[1])

learning_rate <- config$learning_rate  # continuous hyperparameter
num_layers <- config$num_layers        # discrete hyperparameter
activation <- config$activation        # categorical hyperparameter
# A conditional hyperparameter ("condition" in model_config.json) is in input.json only when
# its condition holds: dropout only with 2 or more layers.
dropout <- config$dropout              # NULL when inactive
epochs <- config$epochs                # fixed value
save_folder <- config$save_folder

# "phase" is absent or "validation" during the search and "test" for the final (run by `hpsearch test SEARCH`)
# evaluation: when it is "test", score on held-out test data instead of the
# validation split.
phase <- if (is.null(config$phase)) "validation" else config$phase

# 2. YOUR ANALYSIS GOES HERE: train with the hyperparameters above and score on
#    the validation split (or the test split when phase == "test"). The toy
#    score below stands in for it; its minimum is at learning_rate = 1e-3,
#    num_layers = 3. Each epoch appends its score to progress.jsonl (optional):
#    with "early_stopping" in search_config.json, hpsearch stops runs whose
#    scores are clearly worse than other runs' at the same epoch.
final <- (log10(learning_rate) + 3)^2 + 0.1 * (num_layers - 3)^2
if (identical(activation, "tanh")) final <- final + 0.05
if (!is.null(dropout)) final <- final + 0.2 * (dropout - 0.1)^2
for (epoch in seq_len(epochs)) {
  objective <- final + (1 / epoch - 1 / epochs)  # the toy improves each epoch
  cat(sprintf('{"step": %d, "objective": %.17g}\n', epoch, objective),
      file = file.path(save_folder, "progress.jsonl"), append = TRUE)
}
some_metric <- 1 / (1 + objective)  # any extra numeric metrics are kept

# 3. Write the result. Keep "objective"; add any other numeric keys you like.
cat(sprintf('{"objective": %.17g, "some_metric": %.17g}\n', objective, some_metric),
    file = file.path(save_folder, "output.json"))
