//! OS awareness: what the guest's operating system made of its memory.
//!
//! Sits on the guest-memory layer ([`crate::memory`]) and knows nothing of gdb or of
//! file formats: it reads guest memory through [`crate::memory::Guest`] and interprets
//! it as one operating system lays it out. Only Linux is understood ([`linux`]): the
//! kernel's mappings (direct map, kernel image), its VMCOREINFO note (release, KASLR
//! offset, symbols), its debug information (struct layouts and symbols from its
//! `vmlinux`) and its tasks. `info`, `monitor` and `convert` are its users.
//!
//! The task walker reads kernel virtual addresses through [`KernelMemory`], which the
//! caller implements over the guest model with whatever address space it chooses (the
//! kernel half is the same in every vCPU's page tables). Guest memory is untrusted
//! here: every walk over it is bounded and reports what it could not follow as
//! warnings.

pub mod linux;

/// Kernel virtual memory as the OS layer reads it (implemented over the guest model by the caller).
pub trait KernelMemory {
    /// Read as much of `buf` as is readable at kernel virtual address `addr`; returns the readable prefix length.
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize;
}
