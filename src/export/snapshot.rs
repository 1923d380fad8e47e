//! `hp_search_state.json`: everything `status` and `results` show, published atomically by the
//! coordinator after every change, so readers never open the database a coordinator is writing
//! (which is what breaks SQLite on network file systems).

use crate::coordinator::events::Summary;
use crate::store::Combination;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub search_id: u64,
    pub project: String,
    pub search_folder: String,
    /// `running`, `finished`, `stopped` (by a signal or `cancel`; resumable) or `failed`.
    pub state: String,
    pub end_reason: Option<String>,
    pub search_type: String,
    pub y_transformation: String,
    pub max_suggestions: u64,
    pub max_active_points: u64,
    pub search_time_hours: f64,
    pub random_seed: u64,
    pub coordinator_pid: u32,
    pub coordinator_host: String,
    pub updated_at: f64,
    pub hyperparameters: Vec<String>,
    pub summary: Summary,
    pub combinations: Vec<Combination>,
}
