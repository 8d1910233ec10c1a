//! Renderers: one module per output format.

pub mod human;
pub mod json;
pub mod junit;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped table for people.
    Human,
    /// Versioned JSON for tools.
    Json,
    /// JUnit XML for CI test reports.
    Junit,
}
