//! Downstream analysis of a search: the numbers (`analysis`), the figures (`figures`: SVG and
//! PNG through plotters, with a bundled font), and the self-contained HTML page (`html`). Reads
//! a search's snapshot only, so it works on running searches and never touches the store.

pub mod analysis;
pub mod figures;
pub mod html;
