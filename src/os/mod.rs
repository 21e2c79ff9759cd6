//! OS awareness: what the guest's operating system made of its memory.
//!
//! Sits on the guest-memory layer ([`crate::memory`]) and knows nothing of gdb or of
//! file formats: it reads guest memory through [`crate::memory::Guest`] and interprets
//! it as one operating system lays it out. Only Linux is understood ([`linux`]): the
//! kernel's mappings (direct map, kernel image), its VMCOREINFO note (release, KASLR
//! offset, symbols); the task walker of the Linux-awareness work lives here too.
//! `info`, `monitor` and `convert` are its users.

pub mod linux;
