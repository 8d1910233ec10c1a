//! Renderers: one module per output format.

pub mod human;
pub mod json;
pub mod junit;
pub mod sarif;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped table for people.
    Human,
    /// Versioned JSON for tools.
    Json,
    /// JUnit XML for CI test reports.
    Junit,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
}
