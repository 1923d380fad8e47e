//! Warm starts of the MAP fit: a full multi-start fit runs only at anchor sizes of the data and
//! is remembered, with the choice of an additive part in the kernel (`structure.rs`); in
//! between, one L-BFGS-B run starts from the anchor's hyperparameters. An anchor depends on the
//! data and the seed only, so the strategy stays pure.

use super::features::features;
use super::structure;
use super::subsample::{fit_limit, keep, loss_order};
use super::BoptStrategy;
use crate::config::search::Kernel;
use crate::gp::{Gp, Hyper};
use crate::space::Space;
use rand::SeedableRng;

/// Random restarts of a full MAP fit (beside the prior's centre) for `n` observations.
pub(super) fn restarts_for(n: usize) -> usize {
    if n < 100 {
        4
    } else {
        1
    }
}

/// The anchor size for `n` observations: the largest member ≤ `n` of 1, 2, …, 8, then each
/// a quarter larger than the one before (10, 12, 15, 18, 22, 27, 33, 41, 51, 63, …).
fn anchor_size(n: usize) -> usize {
    let mut m = 1;
    loop {
        let next = if m < 8 { m + 1 } else { m + m / 4 };
        if next > n {
            return m;
        }
        m = next;
    }
}

/// The random stream of anchor fits: beyond any suggestion's sequence number.
const ANCHOR_STREAM: u64 = 1 << 62;
/// Anchor fits remembered (the latest few; they are a cache, never needed for correctness).
const MAX_ANCHORS: usize = 8;

impl BoptStrategy {
    /// The hyperparameters of a full multi-start MAP fit on the first `anchor_size(n)`
    /// observations, with randomness from the seed and that size only. A pure function of the
    /// data and the seed (a resumed search gets the same); computed once per anchor and kept.
    pub(super) fn anchor(
        &mut self,
        kernel: Kernel,
        space: &Space,
        data: &[(&Vec<f64>, f64)],
        seed: u64,
        deterministic: bool,
    ) -> Option<Hyper> {
        use std::hash::{Hash, Hasher};
        let m = anchor_size(data.len());
        let prefix = &data[..m];
        let mut hasher = std::hash::DefaultHasher::new();
        (
            kernel as u8,
            self.bopt.exact_feval,
            self.bopt.normalize_y,
            self.bopt.additive_kernel,
            seed,
            m,
            deterministic,
            // The targets depend on it (no floor is read under noise): an anchor fitted while
            // the noise check's repeat was in flight is not the one a resumed search would fit.
            self.loss_is_noisy,
        )
            .hash(&mut hasher);
        for (p, l) in prefix {
            p.iter().for_each(|v| v.to_bits().hash(&mut hasher));
            l.to_bits().hash(&mut hasher);
        }
        let key = hasher.finish();
        if let Some((_, h)) = self.anchors.iter().find(|(k, _)| *k == key) {
            return Some(h.clone());
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(ANCHOR_STREAM + m as u64);
        let rows = keep(
            &loss_order(prefix),
            fit_limit(prefix.len(), space.dims()),
            &mut rng,
        );
        let targets = self.anchor_targets(prefix);
        let (x, y): (Vec<Vec<f64>>, Vec<f64>) = rows
            .iter()
            .map(|i| (features(space, prefix[*i].0), targets[*i]))
            .unzip();
        let prefix_losses: Vec<f64> = prefix.iter().map(|(_, l)| *l).collect();
        let noise = self.noise(
            self.log_like_warp(&prefix_losses, space.dims()),
            deterministic,
        );
        let gp = Gp::fit(kernel, x.clone(), &y, noise, restarts_for(m), &mut rng).ok()?;
        // Whether the kernel has an additive part is decided here, once per anchor: the warm
        // fits in between keep the choice (their first start says it) and refit its share.
        let gp = if self.bopt.additive_kernel {
            structure::choose(kernel, &x, &y, noise, gp)
        } else {
            gp
        };
        if self.anchors.len() >= MAX_ANCHORS {
            self.anchors.remove(0);
        }
        self.anchors.push((key, gp.hyper.clone()));
        Some(gp.hyper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_grow_by_a_quarter_after_eight() {
        let sizes: Vec<usize> = (1..=45).map(anchor_size).collect();
        assert_eq!(&sizes[..9], &[1, 2, 3, 4, 5, 6, 7, 8, 8]);
        assert_eq!(anchor_size(10), 10);
        assert_eq!(anchor_size(11), 10);
        assert_eq!(anchor_size(44), 41);
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn an_anchor_fitted_before_the_noise_check_answered_is_not_reused_once_the_loss_is_noisy() {
        // With runs in flight, anchors are fitted while the noise check's repeat is still
        // running; once it comes back noisy, the same prefix has other targets (no floor is read
        // under noise). A resumed search fits the anchor afresh, so the search that went on must
        // too, or the two suggest different points.
        use crate::config::search::SearchConfig;
        use rand::RngExt;
        let config = SearchConfig::from_map(
            std::path::Path::new("test"),
            &serde_json::from_str(r#"{"search_type": "bopt", "y_transformation": "none"}"#)
                .unwrap(),
        )
        .unwrap();
        let space = Space::unit_cube(2);
        // A bowl whose optimum's value is 40, half the runs already close to it: read from a
        // floor below the best the losses span decades, read from zero they do not.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let points: Vec<Vec<f64>> = (0..24)
            .map(|i| {
                let spread = if i % 2 == 0 { 1.0 } else { 0.04 };
                vec![
                    (0.3 + spread * (rng.random::<f64>() - 0.5)).clamp(0.0, 1.0),
                    (0.6 + spread * (rng.random::<f64>() - 0.5)).clamp(0.0, 1.0),
                ]
            })
            .collect();
        let data: Vec<(&Vec<f64>, f64)> = points
            .iter()
            .map(|u| {
                (
                    u,
                    40.0 + 100.0 * ((u[0] - 0.3).powi(2) + (u[1] - 0.6).powi(2)),
                )
            })
            .collect();
        let mut went_on = BoptStrategy::new(&config);
        let before = went_on.anchor(Kernel::Matern52, &space, &data, 7, false);
        went_on.loss_is_noisy = true;
        let after = went_on.anchor(Kernel::Matern52, &space, &data, 7, false);
        let mut resumed = BoptStrategy::new(&config);
        resumed.loss_is_noisy = true;
        let fresh = resumed.anchor(Kernel::Matern52, &space, &data, 7, false);
        assert_ne!(before, fresh, "the noisy targets should give another fit");
        assert_eq!(after, fresh);
    }
}
