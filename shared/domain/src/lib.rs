//! Pure domain logic of pipeline-builder: no AWS types, no I/O, no async runtime.

pub mod causes;
pub mod compliance;
pub mod control;
pub mod deployment;
pub mod dora;
pub mod drift;
pub mod errors;
pub mod event;
pub mod execution;
pub mod histogram;
pub mod notify;
pub mod pipeline;
pub mod plugin;
pub mod region;
pub mod reports;
pub mod rollup;
pub mod scrub;
pub mod synth;
pub mod whole_number;
pub mod wire;
pub mod yaml;
