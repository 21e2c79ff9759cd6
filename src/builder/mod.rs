//! TODO

pub mod pagetable;
