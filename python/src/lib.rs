//! `hpsearch._native`: the Python bindings of `hpsearch::optimizer`, and nothing else.
//!
//! Conversions only: configs arrive as JSON text or a file path, suggestions and results leave
//! as dicts; every rule (configs, suggestions, judging a told value, imputing failures) is the
//! crate's. The Python package (`python/hpsearch`) wraps this in `hpsearch.Optimizer`.

use hpsearch::optimizer::{self, OptimizerError, PrunedRuns, Source, Told, Trial, TrialState};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};

fn py_error(error: OptimizerError) -> PyErr {
    match error {
        OptimizerError::Config(_) | OptimizerError::Usage(_) => {
            PyValueError::new_err(error.to_string())
        }
        OptimizerError::Strategy(_) => PyRuntimeError::new_err(error.to_string()),
    }
}

fn source(text: String, is_file: bool) -> Source {
    if is_file {
        Source::File(text.into())
    } else {
        Source::Json(text)
    }
}

fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A trial as a dict: id, params, label, state, value (the objective told; a pruned trial's
/// last reported one), loss (what the strategy sees: a failure's imputed loss included),
/// failure (its kind), reason, step (a pruned trial's last reported step), max_step (the step
/// at which it is complete, when the early-stopping rule sets one).
fn trial_dict<'py>(py: Python<'py>, (trial, loss): &Shown) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("id", trial.id)?;
    dict.set_item("params", to_py(py, &Value::Object(trial.params.clone()))?)?;
    dict.set_item("label", &trial.label)?;
    dict.set_item("state", trial.state.name())?;
    let (value, failure, reason, step) = match &trial.state {
        TrialState::Succeeded { objective, .. } => (Some(*objective), None, None, None),
        TrialState::Failed {
            kind,
            reason,
            objective,
        } => (*objective, Some(kind.name()), Some(reason.as_str()), None),
        TrialState::Pruned {
            step,
            objective,
            reason,
            ..
        } => (Some(*objective), None, Some(reason.as_str()), Some(*step)),
        TrialState::Pending | TrialState::Cancelled => (None, None, None, None),
    };
    dict.set_item("step", step)?;
    dict.set_item("max_step", trial.max_step)?;
    dict.set_item("value", value)?;
    dict.set_item("loss", *loss)?;
    dict.set_item("failure", failure)?;
    dict.set_item("reason", reason)?;
    Ok(dict)
}

/// `hpsearch::optimizer::Optimizer` for Python; see `hpsearch.Optimizer` for the public face.
///
/// The lock is taken only while the optimiser works, never while waiting for the GIL: `ask`
/// releases the GIL for the strategy, so another thread may call in meanwhile (and waits).
#[pyclass(module = "hpsearch._native", name = "Optimizer")]
struct PyOptimizer {
    inner: Mutex<optimizer::Optimizer>,
}

/// What a trial dict shows, taken under the lock and converted after it.
type Shown = (Trial, Option<f64>);

fn shown(optimizer: &optimizer::Optimizer, trial: &Trial) -> Shown {
    (trial.clone(), optimizer.model_loss(trial.id))
}

#[pymethods]
impl PyOptimizer {
    /// `space` and `search_config` are JSON text, or file paths when `*_is_file`.
    #[new]
    #[pyo3(signature = (space, space_is_file, search_config=None, search_config_is_file=false, seed=None))]
    fn new(
        space: String,
        space_is_file: bool,
        search_config: Option<String>,
        search_config_is_file: bool,
        seed: Option<i128>,
    ) -> PyResult<Self> {
        let seed = match seed.map(u64::try_from) {
            None => None,
            Some(Ok(seed)) => Some(seed),
            Some(Err(_)) => {
                return Err(PyValueError::new_err(format!(
                    "seed {}: allowed: a whole number from 0 to 9007199254740991 (2^53 - 1)",
                    seed.unwrap_or_default()
                )))
            }
        };
        let space = source(space, space_is_file);
        let search_config = search_config.map(|s| source(s, search_config_is_file));
        let inner =
            optimizer::Optimizer::new(&space, search_config.as_ref(), seed).map_err(py_error)?;
        Ok(PyOptimizer {
            inner: Mutex::new(inner),
        })
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.lock().seed()
    }

    /// The search type the config asks for (`bopt`, `random`, ...).
    #[getter]
    fn search_type(&self) -> &'static str {
        self.lock().config().search_type.name()
    }

    /// What the space allows but probably does not mean (as a search warns at its start).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.lock().model().warnings.clone()
    }

    /// What the optimizer noted since the last call, as a search writes to its log.
    fn take_notes(&self) -> Vec<String> {
        self.lock().take_notes()
    }

    /// Up to `n` new trials, each suggested with the ones before it pending; the strategy runs
    /// without the GIL.
    fn ask<'py>(&self, py: Python<'py>, n: usize) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let asked = py.detach(|| {
            let mut inner = self.lock();
            let first = inner.trials().len();
            inner.ask_many(n)?;
            Ok(inner.trials()[first..]
                .iter()
                .map(|t| shown(&inner, t))
                .collect::<Vec<_>>())
        });
        let asked = asked.map_err(py_error)?;
        asked.iter().map(|t| trial_dict(py, t)).collect()
    }

    /// Tells a trial's objective (`value`), or its failure: a failure kind of a search
    /// (`timed_out`, `out_of_memory`, ...) or `cancelled`.
    #[pyo3(signature = (id, value=None, failure=None))]
    fn tell<'py>(
        &self,
        py: Python<'py>,
        id: u64,
        value: Option<f64>,
        failure: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let told = match (value, failure) {
            (Some(value), None) => Told::Objective(value),
            (None, Some(name)) => Told::failure(name).map_err(py_error)?,
            _ => {
                return Err(PyValueError::new_err(
                    "tell takes a value or a failure, one of them",
                ))
            }
        };
        let told = {
            let mut inner = self.lock();
            inner.tell(id, told).map_err(py_error)?;
            shown(&inner, &inner.trials()[id as usize])
        };
        trial_dict(py, &told)
    }

    /// A pending trial's intermediate result; returns why the early-stopping rule stops it
    /// there, or None.
    fn report(&self, id: u64, step: u64, value: f64) -> PyResult<Option<String>> {
        let stop = self.lock().report(id, step, value).map_err(py_error)?;
        Ok(stop.map(|s| s.reason))
    }

    /// What the strategy sees of pruned trials: `at_their_step` (a search's), `last_value`,
    /// `left_out`, `worst`, `highest_rung`; to measure the choice.
    fn set_pruned_runs(&self, name: &str) -> PyResult<()> {
        let pruned_runs = PrunedRuns::parse(name).ok_or_else(|| {
            let names: Vec<&str> = PrunedRuns::NAMES.iter().map(|(n, _)| *n).collect();
            PyValueError::new_err(format!(
                "pruned runs {name:?}: allowed: {}",
                names.join(", ")
            ))
        })?;
        self.lock().set_pruned_runs(pruned_runs);
        Ok(())
    }

    /// Every trial, in the order asked.
    fn trials<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let all: Vec<Shown> = {
            let inner = self.lock();
            inner.trials().iter().map(|t| shown(&inner, t)).collect()
        };
        all.iter().map(|t| trial_dict(py, t)).collect()
    }

    /// The succeeded trial with the lowest loss, or None.
    fn best<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let best = {
            let inner = self.lock();
            inner.best().map(|t| shown(&inner, t))
        };
        best.map(|t| trial_dict(py, &t)).transpose()
    }
}

impl PyOptimizer {
    /// The optimiser; a panic in another thread leaves it as that thread left it.
    fn lock(&self) -> MutexGuard<'_, optimizer::Optimizer> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymodule]
#[pyo3(name = "_native")]
fn hpsearch_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOptimizer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
