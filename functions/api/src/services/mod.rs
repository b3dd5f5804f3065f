//! What more than one route runs: a definition checked the way a write checks it, and the org's
//! compliance rules applied to it. Routes read the request and shape the answer; these decide.

pub mod compliance;
pub mod definitions;
pub mod deployments;
pub mod notifications;
pub mod runs;
pub mod synthesis;
