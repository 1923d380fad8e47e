//! MCMC over the GP's kernel hyperparameters: NUTS (the nuts-rs sampler of PyMC/nutpie), whose
//! step size and diagonal mass matrix tune themselves during the burn-in, on the same log
//! posterior that the MAP fit maximises.
//!
//! Two chains of `n_burnin` tuning draws each, then together `n_samples × subsample_interval`
//! draws of which every `subsample_interval`-th is kept. Diagnostics: divergent transitions,
//! effective sample size (autocorrelation up to the first small lag) and R-hat across the two
//! chains, for every hyperparameter; `McmcOutcome::warnings` says when they look bad.
//!
//! When the user sets `step_size` or `leapfrog_steps`, the sampler is the seed's plain HMC with
//! those settings (the other one at the seed's default: 0.1, 20) and no tuning.

use super::likelihood::{Hyper, Likelihood};
use super::model::MIN_NOISE;
use crate::config::search::Kernel;
use nuts_rs::{Chain, CpuLogpFunc, CpuMath, DiagNutsSettings, HasDims, LogpError, Settings};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct McmcSettings {
    pub n_burnin: u64,
    pub n_samples: u64,
    pub subsample_interval: u64,
    pub step_size: Option<f64>,
    pub leapfrog_steps: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct McmcOutcome {
    /// "NUTS" or "HMC".
    pub sampler: &'static str,
    pub samples: Vec<Hyper>,
    pub divergences: u64,
    pub min_ess: f64,
    pub max_rhat: f64,
}

impl McmcOutcome {
    /// One line for the search log, and whether the diagnostics look bad.
    pub fn summary(&self) -> (String, bool) {
        let bad = self.divergences > 0
            || self.max_rhat > 1.05
            || self.min_ess < 0.1 * self.samples.len() as f64;
        (
            format!(
                "MCMC ({}) of the GP hyperparameters: {} samples, {} divergent transitions, smallest effective sample size {:.1}, largest R-hat {:.3}{}",
                self.sampler,
                self.samples.len(),
                self.divergences,
                self.min_ess,
                self.max_rhat,
                if bad { " — WARNING: the sampler may not have converged; more n_burnin, or MLE, may suit this search better" } else { "" }
            ),
            bad,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum McmcError {
    #[error("the GP's covariance is not positive definite here")]
    Singular,
    #[error("the NUTS sampler failed: {0}")]
    Sampler(String),
}

impl LogpError for McmcError {
    fn is_recoverable(&self) -> bool {
        matches!(self, McmcError::Singular)
    }
}

/// The log posterior over the free hyperparameters (noise is fixed for exact evaluations, α
/// exists only for RatQuad).
struct Posterior<'a> {
    likelihood: Likelihood<'a>,
    free: Vec<usize>,
    template: Vec<f64>,
}

impl Posterior<'_> {
    fn full(&self, position: &[f64]) -> Vec<f64> {
        let mut theta = self.template.clone();
        for (i, f) in self.free.iter().enumerate() {
            theta[*f] = position[i];
        }
        theta
    }
}

impl HasDims for Posterior<'_> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        HashMap::from([(
            "unconstrained_parameter".to_string(),
            self.free.len() as u64,
        )])
    }
}

impl CpuLogpFunc for Posterior<'_> {
    type LogpError = McmcError;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.free.len()
    }

    fn logp(&mut self, position: &[f64], grad: &mut [f64]) -> Result<f64, McmcError> {
        // Far outside the region the MAP fit searches the model is meaningless; treat as a wall.
        if position.iter().any(|p| !p.is_finite() || p.abs() > 15.0) {
            return Err(McmcError::Singular);
        }
        let theta = self.full(position);
        let (value, g) = self.likelihood.evaluate(&theta);
        if value >= 1e24 || !value.is_finite() {
            return Err(McmcError::Singular);
        }
        for (i, f) in self.free.iter().enumerate() {
            grad[i] = -g[*f];
        }
        Ok(-value)
    }

    fn expand_vector<R: rand::Rng + ?Sized>(
        &mut self,
        _rng: &mut R,
        position: &[f64],
    ) -> Result<Vec<f64>, nuts_rs::CpuMathError> {
        Ok(position.to_vec())
    }
}

/// The seed's defaults for a plain HMC run when only one of its two settings is given.
struct BoptStepDefaults;
impl BoptStepDefaults {
    const STEP_SIZE: f64 = crate::config::search::BoptConfig::DEFAULT_STEP_SIZE;
    const LEAPFROG_STEPS: u64 = crate::config::search::BoptConfig::DEFAULT_LEAPFROG_STEPS;
}

/// Plain Hamiltonian Monte Carlo, as the seed ran it: a fixed step size and number of leapfrog
/// steps, identity mass matrix, a Metropolis correction. Used only when the user sets
/// `step_size` or `leapfrog_steps`; otherwise NUTS tunes itself.
struct Hmc {
    step_size: f64,
    leapfrog_steps: u64,
}

struct HmcState {
    position: Vec<f64>,
    log_p: f64,
    grad: Vec<f64>,
}

impl Hmc {
    fn evaluate(posterior: &mut Posterior, position: &[f64]) -> Option<(f64, Vec<f64>)> {
        let mut grad = vec![0.0; position.len()];
        let log_p = posterior.logp(position, &mut grad).ok()?;
        Some((log_p, grad))
    }

    fn start(&self, posterior: &mut Posterior, position: Vec<f64>) -> Result<HmcState, McmcError> {
        let (log_p, grad) = Self::evaluate(posterior, &position).ok_or(McmcError::Singular)?;
        Ok(HmcState {
            position,
            log_p,
            grad,
        })
    }

    /// One transition; returns whether the trajectory diverged.
    fn step(
        &self,
        posterior: &mut Posterior,
        state: &mut HmcState,
        rng: &mut impl rand::Rng,
    ) -> bool {
        use rand::RngExt;
        let normal = |rng: &mut dyn FnMut() -> f64| {
            let (u, v): (f64, f64) = (rng().max(f64::MIN_POSITIVE), rng());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let mut draw = || rng.random::<f64>();
        let momentum: Vec<f64> = (0..state.position.len())
            .map(|_| normal(&mut draw))
            .collect();
        let kinetic = |p: &[f64]| 0.5 * p.iter().map(|v| v * v).sum::<f64>();
        let start_energy = -state.log_p + kinetic(&momentum);
        let eps = self.step_size;
        let mut q = state.position.clone();
        let mut p: Vec<f64> = momentum
            .iter()
            .zip(&state.grad)
            .map(|(m, g)| m + 0.5 * eps * g)
            .collect();
        let mut last = (state.log_p, state.grad.clone());
        for l in 0..self.leapfrog_steps {
            for (qi, pi) in q.iter_mut().zip(&p) {
                *qi += eps * pi;
            }
            let Some(next) = Self::evaluate(posterior, &q) else {
                return true;
            };
            let factor = if l + 1 == self.leapfrog_steps {
                0.5
            } else {
                1.0
            };
            for (pi, g) in p.iter_mut().zip(&next.1) {
                *pi += factor * eps * g;
            }
            last = next;
        }
        let energy = -last.0 + kinetic(&p);
        if !energy.is_finite() || energy - start_energy > 1000.0 {
            return true;
        }
        if rng.random::<f64>() < (start_energy - energy).exp() {
            *state = HmcState {
                position: q,
                log_p: last.0,
                grad: last.1,
            };
        }
        false
    }
}

fn effective_sample_size(chains: &[Vec<f64>]) -> f64 {
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if var <= 1e-300 {
        return n;
    }
    let mut sum_rho = 0.0;
    let len = chains.iter().map(Vec::len).min().unwrap_or(0);
    for lag in 1..len {
        let mut acc = 0.0;
        let mut count = 0.0;
        for chain in chains {
            for t in lag..chain.len() {
                acc += (chain[t] - mean) * (chain[t - lag] - mean);
                count += 1.0;
            }
        }
        let rho = acc / count / var;
        if rho < 0.05 {
            break;
        }
        sum_rho += rho;
    }
    n / (1.0 + 2.0 * sum_rho)
}

fn r_hat(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len() as f64;
    let n = chains.iter().map(Vec::len).min().unwrap_or(0) as f64;
    if n < 2.0 || m < 2.0 {
        return 1.0;
    }
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let grand = means.iter().sum::<f64>() / m;
    let between = n / (m - 1.0) * means.iter().map(|x| (x - grand).powi(2)).sum::<f64>();
    let within = chains
        .iter()
        .zip(&means)
        .map(|(c, mu)| c.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (c.len() as f64 - 1.0))
        .sum::<f64>()
        / m;
    if within <= 1e-300 {
        return 1.0;
    }
    (((n - 1.0) / n * within + between / n) / within).sqrt()
}

/// Samples the hyperparameters of a GP on `x`, `y`, starting both chains at `start` (the MAP).
pub fn sample(
    kernel: Kernel,
    x: &[Vec<f64>],
    y: &[f64],
    exact: bool,
    start: &Hyper,
    settings: &McmcSettings,
    seed: u64,
) -> Result<McmcOutcome, McmcError> {
    let d = start.log_lengthscales.len();
    let mut template: Vec<f64> = start.log_lengthscales.clone();
    template.extend([
        start.log_signal,
        if exact {
            MIN_NOISE.ln()
        } else {
            start.log_noise
        },
        start.mean,
        start.log_alpha,
    ]);
    // An additive part's share is held at the MAP fit's.
    template.extend(start.additive);
    let mut free: Vec<usize> = (0..d + 1).collect();
    if !exact {
        free.push(d + 1);
    }
    free.push(d + 2);
    if kernel == Kernel::RatQuad {
        free.push(d + 3);
    }
    sample_free(kernel, x, y, template, free, settings, seed)
}

/// `sample` over the hyperparameters at the indices `free` of `θ`, the others held at their
/// values in `template`.
fn sample_free(
    kernel: Kernel,
    x: &[Vec<f64>],
    y: &[f64],
    template: Vec<f64>,
    free: Vec<usize>,
    settings: &McmcSettings,
    seed: u64,
) -> Result<McmcOutcome, McmcError> {
    let chains_count = 2u64;
    let keep_per_chain = settings.n_samples.div_ceil(chains_count);
    let draws_per_chain = keep_per_chain * settings.subsample_interval;
    let plain_hmc = settings.step_size.is_some() || settings.leapfrog_steps.is_some();
    let nuts = DiagNutsSettings {
        num_tune: settings.n_burnin,
        num_draws: draws_per_chain,
        seed,
        ..Default::default()
    };
    let mut per_chain: Vec<Vec<Vec<f64>>> = Vec::new();
    let mut divergences = 0;
    for chain_id in 0..chains_count {
        let mut posterior = Posterior {
            likelihood: Likelihood::new(kernel, x, y),
            free: free.clone(),
            template: template.clone(),
        };
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
            seed ^ (chain_id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let init: Vec<f64> = free.iter().map(|f| template[*f]).collect();
        let mut kept = Vec::new();
        if plain_hmc {
            let hmc = Hmc {
                step_size: settings.step_size.unwrap_or(BoptStepDefaults::STEP_SIZE),
                leapfrog_steps: settings
                    .leapfrog_steps
                    .unwrap_or(BoptStepDefaults::LEAPFROG_STEPS)
                    .max(1),
            };
            let mut state = hmc.start(&mut posterior, init)?;
            for i in 0..(settings.n_burnin + draws_per_chain) {
                divergences += u64::from(
                    hmc.step(&mut posterior, &mut state, &mut rng) && i >= settings.n_burnin,
                );
                if i >= settings.n_burnin
                    && (i - settings.n_burnin + 1).is_multiple_of(settings.subsample_interval)
                {
                    kept.push(state.position.clone());
                }
            }
        } else {
            let mut chain = nuts
                .new_chain(chain_id, CpuMath::new(posterior), &mut rng)
                .map_err(|e| McmcError::Sampler(e.to_string()))?;
            chain
                .set_position(&init)
                .map_err(|e| McmcError::Sampler(e.to_string()))?;
            for i in 0..(settings.n_burnin + draws_per_chain) {
                let (draw, progress) = chain
                    .draw()
                    .map_err(|e| McmcError::Sampler(e.to_string()))?;
                if progress.tuning {
                    continue;
                }
                divergences += u64::from(progress.diverging);
                let after = i - settings.n_burnin;
                if (after + 1).is_multiple_of(settings.subsample_interval) {
                    kept.push(draw.to_vec());
                }
            }
        }
        per_chain.push(kept);
    }
    let mut min_ess = f64::INFINITY;
    let mut max_rhat: f64 = 1.0;
    for p in 0..free.len() {
        let series: Vec<Vec<f64>> = per_chain
            .iter()
            .map(|c| c.iter().map(|v| v[p]).collect())
            .collect();
        min_ess = min_ess.min(effective_sample_size(&series));
        max_rhat = max_rhat.max(r_hat(&series));
    }
    let samples = per_chain
        .iter()
        .flatten()
        .take(settings.n_samples as usize)
        .map(|position| {
            let mut theta = template.clone();
            for (i, f) in free.iter().enumerate() {
                theta[*f] = position[i];
            }
            Hyper::from_vec(&theta, x.first().map_or(0, Vec::len))
        })
        .collect();
    Ok(McmcOutcome {
        sampler: if plain_hmc { "HMC" } else { "NUTS" },
        samples,
        divergences,
        min_ess,
        max_rhat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_samplers_recover_a_known_gaussian_posterior() {
        // Four observations so far apart that their covariance is diagonal (σ² = 1, σ_n² = 1e-6),
        // and only the constant mean m free: with its prior N(0, 1) the posterior of m is
        // N(Σy / (n + 1), 1 / (n + 1)) up to the noise, here N(0.88, 0.2).
        let x: Vec<Vec<f64>> = (0..4).map(|i| vec![10.0 * i as f64]).collect();
        let y = [1.2, 0.4, 2.0, 0.8];
        let template = vec![0.5f64.ln(), 0.0, MIN_NOISE.ln(), 0.0, 0.0];
        let (mean, variance) = (0.88, 0.2);
        for (step_size, leapfrog_steps) in [(None, None), (Some(0.4), Some(8))] {
            let settings = McmcSettings {
                n_burnin: 300,
                n_samples: 4000,
                subsample_interval: 1,
                step_size,
                leapfrog_steps,
            };
            let out = sample_free(
                Kernel::ExpQuad,
                &x,
                &y,
                template.clone(),
                vec![3],
                &settings,
                11,
            )
            .unwrap();
            let draws: Vec<f64> = out.samples.iter().map(|h| h.mean).collect();
            assert_eq!(draws.len(), 4000);
            let n = draws.len() as f64;
            let m = draws.iter().sum::<f64>() / n;
            let v = draws.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1.0);
            let standard_error = (variance / out.min_ess).sqrt();
            assert!(
                (m - mean).abs() < 4.0 * standard_error,
                "{}: mean {m} (ESS {})",
                out.sampler,
                out.min_ess
            );
            assert!(
                (v / variance - 1.0).abs() < 0.15,
                "{}: variance {v}",
                out.sampler
            );
            assert!(
                out.max_rhat < 1.05 && out.divergences == 0,
                "{:?}",
                out.summary()
            );
        }
    }

    #[test]
    fn plain_hmc_runs_when_the_user_sets_its_step_size_and_path_length() {
        let x: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64 / 9.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (5.0 * p[0]).sin()).collect();
        let start = Hyper {
            log_lengthscales: vec![-1.0],
            log_signal: 0.0,
            log_noise: -6.0,
            mean: 0.0,
            log_alpha: 0.0,
            additive: None,
        };
        let settings = McmcSettings {
            n_burnin: 100,
            n_samples: 40,
            subsample_interval: 2,
            step_size: Some(0.05),
            leapfrog_steps: Some(10),
        };
        let out = sample(Kernel::Matern52, &x, &y, false, &start, &settings, 3).unwrap();
        assert_eq!(out.samples.len(), 40);
        let distinct: std::collections::BTreeSet<String> = out
            .samples
            .iter()
            .map(|h| format!("{:?}", h.log_lengthscales))
            .collect();
        assert!(
            distinct.len() > 10,
            "the chain moves: {} distinct of 40",
            distinct.len()
        );
        let mean_ls: f64 = out
            .samples
            .iter()
            .map(|h| h.log_lengthscales[0])
            .sum::<f64>()
            / 40.0;
        assert!(mean_ls > -3.0 && mean_ls < 1.5, "{mean_ls}");
        let again = sample(Kernel::Matern52, &x, &y, false, &start, &settings, 3).unwrap();
        assert_eq!(out.samples, again.samples);
    }

    #[test]
    fn r_hat_and_ess_tell_mixed_from_stuck_chains() {
        let mixed: Vec<Vec<f64>> = (0..2)
            .map(|c| {
                (0..200)
                    .map(|i| (((i * 7919 + c * 104_729) % 1000) as f64) / 1000.0)
                    .collect()
            })
            .collect();
        assert!(r_hat(&mixed) < 1.05, "{}", r_hat(&mixed));
        assert!(effective_sample_size(&mixed) > 100.0);
        let stuck = vec![
            vec![0.0; 100]
                .into_iter()
                .enumerate()
                .map(|(i, _)| i as f64 * 1e-3)
                .collect::<Vec<_>>(),
            (0..100).map(|i| 5.0 + i as f64 * 1e-3).collect(),
        ];
        assert!(r_hat(&stuck) > 1.5, "{}", r_hat(&stuck));
    }

    #[test]
    fn nuts_samples_the_hyperparameters_around_the_map_fit() {
        let x: Vec<Vec<f64>> = (0..10).map(|i| vec![i as f64 / 9.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (5.0 * p[0]).sin()).collect();
        let start = Hyper {
            log_lengthscales: vec![-1.0],
            log_signal: 0.0,
            log_noise: -6.0,
            mean: 0.0,
            log_alpha: 0.0,
            additive: None,
        };
        let settings = McmcSettings {
            n_burnin: 200,
            n_samples: 40,
            subsample_interval: 2,
            step_size: None,
            leapfrog_steps: None,
        };
        let out = sample(Kernel::Matern52, &x, &y, false, &start, &settings, 7).unwrap();
        assert_eq!(out.samples.len(), 40);
        let mean_ls: f64 = out
            .samples
            .iter()
            .map(|h| h.log_lengthscales[0])
            .sum::<f64>()
            / 40.0;
        assert!(mean_ls > -3.0 && mean_ls < 1.5, "{mean_ls}");
        assert!(out.max_rhat < 1.2, "{}", out.summary().0);
        let again = sample(Kernel::Matern52, &x, &y, false, &start, &settings, 7).unwrap();
        assert_eq!(out.samples, again.samples, "same seed, same draws");
    }
}
