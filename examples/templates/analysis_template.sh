#!/bin/sh
# Template analysis script for hpsearch (POSIX sh + sed + awk).
#
# hpsearch runs this as:   ENVIRONMENT analysis_template.sh /abs/path/to/input.json
# (ENVIRONMENT is typically "sh"), with the current directory set to the run's
# folder.
#
# input.json holds every variable of your model_config.json, with each
# hyperparameter replaced by one concrete value, plus "save_folder" (the run's
# folder). This script must write $save_folder/output.json containing the
# objective (lower is better unless the search's y_transformation is
# "neg"/"neglog"): a number, a list whose first element is the objective, or an
# object {"objective": ..., other numeric metrics ...}.
#
# Long runs: with "checkpoint_signal_seconds": N in job_config.json this script
# gets SIGUSR1 N seconds before its time limit, time to save its state.
# In sh:   trap 'save_state; touch checkpoint' USR1   (then keep working).
# With "requeue_on_timeout": true in a Slurm cluster profile, a run that reached
# its limit after writing a file or folder named checkpoint* in its folder is
# submitted again, and can continue from it.
#
# LIMITATION: the two helpers below are tiny sed-based readers for top-level
# keys holding a plain number or a simple string (no escaped quotes, lists or
# nested objects). For anything richer use jq, e.g.  jq -r .learning_rate "$1"
set -eu

input=${1:?usage: $0 /abs/path/to/input.json}

# json_number KEY / json_string KEY: print the value of a flat top-level key.
json_number() {
  tr -d '\n' < "$input" |
    sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*\([-+0-9.eE]*\).*/\1/p'
}
json_string() {
  tr -d '\n' < "$input" |
    sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

# 1. Read the variables chosen for this run.
learning_rate=$(json_number learning_rate)  # continuous hyperparameter
num_layers=$(json_number num_layers)        # discrete hyperparameter
activation=$(json_string activation)        # categorical hyperparameter
# A conditional hyperparameter ("condition" in model_config.json) is in input.json only when
# its condition holds: dropout only with 2 or more layers.
dropout=$(json_number dropout)              # empty when inactive
epochs=$(json_number epochs)                # fixed value
save_folder=$(json_string save_folder)

# "phase" is absent or "validation" during the search and "test" for the final (run by `hpsearch test SEARCH`)
# evaluation: when it is "test", score on held-out test data instead of the
# validation split.
phase=$(json_string phase)
phase=${phase:-validation}

if [ -z "$learning_rate" ] || [ -z "$num_layers" ] || [ -z "$save_folder" ]; then
  echo "analysis_template.sh: could not read learning_rate/num_layers/save_folder from $input" >&2
  exit 1  # a failed run: hpsearch records it as a failure
fi

# 2. YOUR ANALYSIS GOES HERE: run your program with the values above (e.g.
#    ./my_model --lr "$learning_rate" --layers "$num_layers" ...) and obtain a
#    score on the validation split (or the test split when phase = test).
#    The toy score below stands in for it; its minimum is at
#    learning_rate = 1e-3, num_layers = 3. Each epoch appends its score to
#    progress.jsonl (optional): with "early_stopping" in search_config.json,
#    hpsearch stops runs whose scores are clearly worse than other runs' at the
#    same epoch. From a program of your own: one line per step, e.g.
#      printf '{"step": %d, "objective": %s}\n' "$epoch" "$score" >> "$save_folder/progress.jsonl"
# 3. Write the result. Keep "objective"; add any other numeric keys you like.
awk -v lr="$learning_rate" -v nl="$num_layers" -v act="$activation" -v epochs="${epochs:-1}" \
    -v dropout="$dropout" \
    -v progress="$save_folder/progress.jsonl" 'BEGIN {
  final = (log(lr) / log(10) + 3) ^ 2 + 0.1 * (nl - 3) ^ 2
  if (act == "tanh") final += 0.05
  if (dropout != "") final += 0.2 * (dropout - 0.1) ^ 2
  for (epoch = 1; epoch <= epochs; epoch++) {
    obj = final + (1 / epoch - 1 / epochs)  # the toy improves each epoch
    printf "{\"step\": %d, \"objective\": %.17g}\n", epoch, obj >> progress
  }
  printf "{\"objective\": %.17g, \"some_metric\": %.17g}\n", obj, 1 / (1 + obj)
}' > "$save_folder/output.json"
