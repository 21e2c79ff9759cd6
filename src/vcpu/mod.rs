//! vCPU state: the registers of one dumped vCPU in a width-independent model.
//!
//! Built from a raw `vcpu_guest_context` by the dump layer's context view; consumed by
//! the gdb layer, which lays the values out in gdb's register order.

mod fxsave;
mod state;

pub use fxsave::*;
pub use state::*;
