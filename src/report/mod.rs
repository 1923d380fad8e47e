//! Downstream analysis of a search: the numbers (`analysis`), the learning curves (`curves`),
//! the figures (`figures`: SVG and PNG through plotters, with a bundled font), the
//! self-contained HTML page (`html`), and how numbers are shown to people (`numbers`:
//! significant digits, axis ticks). Reads a search's snapshot and its runs' progress files only,
//! so it works on running searches and never touches the store.

pub mod analysis;
pub mod curves;
pub mod figures;
pub mod html;
pub mod numbers;
