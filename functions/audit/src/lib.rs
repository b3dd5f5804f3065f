//! The nightly stack audit (DESIGN §7): a Lambda and a CLI.
