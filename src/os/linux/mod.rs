//! Linux awareness: the kernel's struct layouts and symbols from its debug information
//! ([`debuginfo`]), and its tasks read out of guest memory ([`tasks`]).
//!
//! Every kernel task (every thread of every thread group, the idle tasks included)
//! becomes something a debugger can show as a thread: its pid, command, state, the CPU
//! it runs on, the registers its last context switch saved and its page tables.

pub mod debuginfo;
pub mod layout;
pub mod tasks;
