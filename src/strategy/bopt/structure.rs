//! Whether the GP's kernel gets an additive part: where a loss is mostly a sum of effects of one
//! hyperparameter each (a separable function, many training losses), a product kernel must learn
//! each effect anew in every region of the space, and a first-order additive part learns it once.
//! At each anchor fit (`anchors.rs`), with `bopt_config.additive_kernel` (the default), both
//! models are fitted, and the mixture is kept only where it predicts each finished run from the
//! others clearly better (the leave-one-out log density, by `MARGIN_NATS`); the suggestions up
//! to the next anchor start their fit from that choice. On Styblinski-Tang and on BBOB's
//! sphere-like functions the mixture, on functions of interacting coordinates the product kernel
//! (docs/benchmarks/broad-benchmark.md, "Additive structure decided at the anchors").

use crate::config::search::Kernel;
use crate::gp::likelihood::ADDITIVE_PRIOR_MEAN;
use crate::gp::{Gp, GpError, Noise};

/// The logits of the additive share the mixture's fit starts from (besides the product fit's
/// other hyperparameters): the prior's centre, and a mostly additive kernel.
const STARTS: [f64; 2] = [ADDITIVE_PRIOR_MEAN, 1.0];
/// L-BFGS-B iterations of each start.
const ITERATIONS: usize = 60;
/// Fewest features for which an additive part is tried: with one there is no structure to find,
/// and with two a sum of two curves had little to add (in 2-D the mixture lost more problems of
/// the broad benchmark than it won).
const MIN_FEATURES: usize = 3;
/// How much higher (nats, summed over the runs) the mixture's leave-one-out log density must be
/// for it to be kept: it has one more hyperparameter, its share, so it wins a close call by
/// chance, and a close call is worth nothing to the search. Where a sum truly explains the
/// losses the difference grows to tens of nats.
const MARGIN_NATS: f64 = 2.0;

/// `product`, or the GP with an additive part fitted to the same data when that predicts the
/// left-out runs clearly better.
pub(super) fn choose(kernel: Kernel, x: &[Vec<f64>], y: &[f64], noise: Noise, product: Gp) -> Gp {
    if x.first().is_none_or(|p| p.len() < MIN_FEATURES) {
        return product;
    }
    match fit_mixture(kernel, x, y, noise, &product) {
        Ok(mixed)
            if mixed.leave_one_out_log_density()
                > product.leave_one_out_log_density() + MARGIN_NATS =>
        {
            mixed
        }
        _ => product,
    }
}

/// The GP with an additive part, fitted from the product fit's hyperparameters and each of
/// `STARTS` for its share.
fn fit_mixture(
    kernel: Kernel,
    x: &[Vec<f64>],
    y: &[f64],
    noise: Noise,
    product: &Gp,
) -> Result<Gp, GpError> {
    let starts: Vec<_> = STARTS
        .iter()
        .map(|logit| product.hyper.with_additive(Some(*logit)))
        .collect();
    Gp::fit_from(kernel, x.to_vec(), y, noise, &starts, ITERATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use std::f64::consts::TAU;

    /// `n` points of the unit cube in `d` dimensions and their values under `f`, standardised.
    fn sample(n: usize, d: usize, f: impl Fn(&[f64]) -> f64) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..d).map(|_| rng.random::<f64>()).collect())
            .collect();
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let mean = y.iter().sum::<f64>() / n as f64;
        let sd = (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        (x, y.iter().map(|v| (v - mean) / sd).collect())
    }

    /// Styblinski-Tang on [-5, 5]^d (the unit cube scaled): a double well in every
    /// coordinate, summed.
    fn styblinski_tang(p: &[f64]) -> f64 {
        p.iter()
            .map(|u| {
                let v = 10.0 * u - 5.0;
                0.5 * (v.powi(4) - 16.0 * v * v + 5.0 * v)
            })
            .sum()
    }

    /// The product kernel's fit, and what `choose` makes of it.
    fn chosen(x: &[Vec<f64>], y: &[f64]) -> (Gp, Gp) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let product = Gp::fit(Kernel::Matern52, x.to_vec(), y, Noise::FITTED, 4, &mut rng).unwrap();
        assert_eq!(product.hyper.additive, None);
        let kept = choose(Kernel::Matern52, x, y, Noise::FITTED, product.clone());
        (product, kept)
    }

    #[test]
    fn a_sum_of_one_dimensional_wells_gets_an_additive_part_and_pure_interactions_do_not() {
        // Styblinski-Tang in 6-D. (From 80
        // runs the mixture predicts the left-out ones better by about 6 nats; from 48, when it
        // has not yet learnt the wells, by a tenth of one, which is no reason to switch.)
        let (x, y) = sample(80, 6, styblinski_tang);
        let (_, separable) = chosen(&x, &y);
        assert!(separable.hyper.additive.is_some(), "{:?}", separable.hyper);
        // Pure interactions: products of neighbouring coordinates' waves, each of mean zero along
        // its coordinate, so that no coordinate alone has an effect for an additive part to learn.
        let (x, y) = sample(48, 6, |p| {
            p.windows(2)
                .map(|w| (TAU * w[0]).sin() * (TAU * w[1]).sin())
                .sum()
        });
        let (_, interacting) = chosen(&x, &y);
        assert_eq!(interacting.hyper.additive, None, "{:?}", interacting.hyper);
    }

    #[test]
    fn two_features_keep_the_product_kernel_even_where_the_loss_is_a_sum() {
        let (x, y) = sample(40, 2, styblinski_tang);
        let (product, kept) = chosen(&x, &y);
        assert_eq!(kept.hyper, product.hyper);
    }

    #[test]
    fn a_close_call_keeps_the_product_kernel() {
        // A smooth bowl with one weak interaction, from a few runs: the mixture fits about as
        // well as the product kernel, and it is kept only by a clear margin.
        let (x, y) = sample(12, 3, |p| {
            p.iter().map(|u| (u - 0.4).powi(2)).sum::<f64>() + 0.3 * p[0] * p[1]
        });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let product =
            Gp::fit(Kernel::Matern52, x.to_vec(), &y, Noise::FITTED, 4, &mut rng).unwrap();
        let mixed = fit_mixture(Kernel::Matern52, &x, &y, Noise::FITTED, &product).unwrap();
        let gain = mixed.leave_one_out_log_density() - product.leave_one_out_log_density();
        assert!(gain > 0.0 && gain < MARGIN_NATS, "a close call: {gain}");
        let kept = choose(Kernel::Matern52, &x, &y, Noise::FITTED, product.clone());
        assert_eq!(kept.hyper, product.hyper);
    }
}
