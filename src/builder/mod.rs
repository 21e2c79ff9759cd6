//! Synthetic xendump writer: the test oracle for the dump reader.
//!
//! A [`GuestImage`] describes a guest (populated frames, page contents, vCPU contexts,
//! Xen version); [`GuestImage::write_to`] lays it out byte for byte as a real Xen
//! writer would, in any of the historical variants selected by [`DumpOptions`]:
//! the ELF format of Xen ≥ 3.1 (current section order, the 3.1 order, the short-lived
//! ELFCLASS32 files) and the legacy 3.0.x format. Every offset here is derived from
//! `docs/xen-dump-format.md` §2–§4 and the Xen writer sources, never from the reader.
//!
//! Address spaces: the image speaks guest frames (pfn) and machine frames (mfn);
//! the writers speak file offsets. Zero pages are never materialised: the writers
//! seek over them, so a large, mostly empty guest becomes a sparse file.

pub mod damaged;
mod elf;
mod error;
mod image;
pub mod large;
mod legacy;
pub mod legacy_hvm;
pub mod linux;
mod options;
pub mod pagetable;
pub mod scenario;
mod sparse;
pub mod stream;
pub mod tiny;
mod vcpu;
pub mod vmlinux;
pub mod x86;

pub use error::BuildError;
pub use image::{
    pv32_cr3, pv64_cr3, DumpLayout, FrameRun, GuestImage, Page, Region, XenVersionImage,
    CAPABILITIES_32, CAPABILITIES_64,
};
pub use options::{
    all_variants, DumpOptions, ElfOptions, Layout, LegacyHvmCr3, LegacyOptions, PHYS_TABLE_MFN,
};
pub use stream::{Container, Passes, StreamLayout, StreamOptions};
pub use vcpu::VcpuImage;

#[cfg(test)]
mod tests;
