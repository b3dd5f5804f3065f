//! Test and tooling support against the local AWS emulator (moto). Everything here talks to AWS
//! through the same SDK clients as production; only the endpoint differs.

pub mod api;
pub mod emulator;
pub mod events;
pub mod faults;
pub mod local_api;
pub mod runtime_stub;
pub mod yaml;
