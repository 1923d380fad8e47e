//! The Gaussian-process engine: kernels, the hyperparameters' posterior, the model and its fit,
//! acquisition functions. Pure numerics on unit-cube features; it never touches the store, files
//! or processes.

pub mod acquisition;
pub mod kernel;
pub mod likelihood;
pub mod linalg;
pub mod mcmc;
pub mod model;

pub use likelihood::Hyper;
pub use model::{Gp, GpError, Noise, Prediction};
