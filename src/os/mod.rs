//! OS awareness: what a guest kernel's own data structures say about the dumped
//! machine (its tasks, their saved registers and address spaces).
//!
//! This layer sits on guest memory and knows nothing of gdb: it reads kernel virtual
//! addresses through [`KernelMemory`], which the caller implements over the guest
//! model ([`crate::memory::Guest`]) with whatever address space it chooses (the kernel
//! half is the same in every vCPU's page tables). Guest memory is untrusted here: every
//! walk over it is bounded and reports what it could not follow as warnings.
//!
//! [`linux`] reads a Linux kernel's debug information (struct layouts and symbols from
//! its `vmlinux`) and walks its task list.

pub mod linux;

/// Kernel virtual memory as the OS layer reads it (implemented over the guest model by the caller).
pub trait KernelMemory {
    /// Read as much of `buf` as is readable at kernel virtual address `addr`; returns the readable prefix length.
    fn read(&self, addr: u64, buf: &mut [u8]) -> usize;
}
