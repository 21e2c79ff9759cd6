//! Where a sparse dump file has no data, asked from the filesystem (`SEEK_DATA` /
//! `SEEK_HOLE`), so a sequential copy can skip pages in holes without reading them (and
//! faulting them in as zero-filled page-cache pages). Only a hint: where the filesystem
//! cannot tell, every page counts as data.

use std::fs::File;

use crate::addr::{PageIndex, PAGE_SIZE};

/// Hole queries over the pages of one mapped dump.
pub struct PageHoles<'a> {
    #[cfg_attr(not(unix), allow(dead_code))]
    file: &'a File,
    /// File offset of page 0.
    pages_offset: u64,
    /// `[query, data, data_end)`: no data in `[query, data)`, data in `[data, data_end)`.
    window: Option<(u64, u64, u64)>,
}

impl<'a> PageHoles<'a> {
    pub(super) fn new(file: &'a File, pages_offset: u64) -> Option<PageHoles<'a>> {
        cfg!(unix).then_some(PageHoles {
            file,
            pages_offset,
            window: None,
        })
    }

    /// Are pages `first .. first + count` all in a hole (never written: zeros)? Pages
    /// must be asked about in ascending order (a sequential pass).
    pub fn is_hole(&mut self, first: PageIndex, count: u64) -> bool {
        let start = self.pages_offset + first.0 * PAGE_SIZE;
        let end = start + count * PAGE_SIZE;
        let (data, _) = match self.window {
            Some((q, d, e)) if q <= start && start < e => (d.max(start), e),
            _ => match self.query(start) {
                Some((d, e)) => {
                    self.window = Some((start, d, e));
                    (d, e)
                }
                None => return false,
            },
        };
        data >= end
    }

    /// Next data at or after `at`, and where it ends; `u64::MAX` past the last data.
    #[cfg(unix)]
    fn query(&self, at: u64) -> Option<(u64, u64)> {
        use rustix::fs::{seek, SeekFrom};
        match seek(self.file, SeekFrom::Data(at)) {
            Ok(d) => {
                let e = seek(self.file, SeekFrom::Hole(d)).ok()?;
                Some((d, e.max(d.saturating_add(1))))
            }
            Err(rustix::io::Errno::NXIO) => Some((u64::MAX, u64::MAX)),
            Err(_) => None,
        }
    }

    #[cfg(not(unix))]
    fn query(&self, _at: u64) -> Option<(u64, u64)> {
        None
    }
}
