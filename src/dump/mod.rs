//! Dump formats: parse and validate a xendump, then give cheap typed views of it.

mod kinds;

pub use kinds::*;
