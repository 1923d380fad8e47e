#!/usr/bin/env perl
# Template analysis script for hpsearch (Perl, core modules only).
#
# hpsearch runs this as:   ENVIRONMENT analysis_template.pl /abs/path/to/input.json
# with the current directory set to the run's folder.
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
# In Perl: $SIG{USR1} = sub { save_state(); open my $f, '>', 'checkpoint'; };
# With "requeue_on_timeout": true in a Slurm cluster profile, a run that reached
# its limit after writing a file or folder named checkpoint* in its folder is
# submitted again, and can continue from it.
use strict;
use warnings;
use JSON::PP;

# 1. Read the variables chosen for this run.
my $path = $ARGV[0] or die "usage: $0 input.json\n";
open(my $in, '<', $path) or die "cannot read $path: $!\n";
my $config = decode_json(do { local $/; <$in> });
close($in);

my $learning_rate = $config->{learning_rate};  # continuous hyperparameter
my $num_layers    = $config->{num_layers};     # discrete hyperparameter
my $activation    = $config->{activation};     # categorical hyperparameter
# A conditional hyperparameter ("condition" in model_config.json) is in input.json only when
# its condition holds: dropout only with 2 or more layers.
my $dropout       = $config->{dropout};        # undef when inactive
my $epochs        = $config->{epochs};         # fixed value
my $save_folder   = $config->{save_folder};

# "phase" is absent or "validation" during the search and "test" for the final (run by `hpsearch test SEARCH`)
# evaluation: when it is "test", score on held-out test data instead of the
# validation split.
my $phase = $config->{phase} // 'validation';

# 2. YOUR ANALYSIS GOES HERE: train with the hyperparameters above and score on
#    the validation split (or the test split when $phase eq 'test'). The toy
#    score below stands in for it; its minimum is at learning_rate = 1e-3,
#    num_layers = 3. Each epoch appends its score to progress.jsonl (optional):
#    with "early_stopping" in search_config.json, hpsearch stops runs whose
#    scores are clearly worse than other runs' at the same epoch.
my $final = (log($learning_rate) / log(10) + 3)**2 + 0.1 * ($num_layers - 3)**2;
$final += 0.05 if $activation eq 'tanh';
$final += 0.2 * ($dropout - 0.1)**2 if defined $dropout;
my $objective = $final;
open(my $progress, '>>', "$save_folder/progress.jsonl") or die "cannot write progress: $!\n";
$progress->autoflush(1);
for my $epoch (1 .. $epochs) {
    $objective = $final + (1 / $epoch - 1 / $epochs);  # the toy improves each epoch
    print $progress encode_json({ step => $epoch + 0, objective => $objective + 0 }), "\n";
}
close($progress);
my $some_metric = 1 / (1 + $objective);  # any extra numeric metrics are kept

# 3. Write the result. Keep "objective"; add any other numeric keys you like.
open(my $out, '>', "$save_folder/output.json") or die "cannot write output: $!\n";
print $out encode_json({ objective => $objective + 0, some_metric => $some_metric + 0 });
close($out);
