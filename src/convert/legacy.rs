//! Legacy (Xen 3.0.x) PV dumps record only the machine frame of each page. Where the
//! guest kernel's own p2m list is in the dump, it says which pfn each page is: read it
//! through the guest's page tables ([`crate::os::linux::read_p2m_list`]), give the dump
//! those pfns, and the dump converts like an ELF PV one (canonical page tables
//! included). Where the list is not known the conversion is refused, as before
//! ([`ConvertError::NoPseudoPhysical`]).

use crate::dump::{RecoveredPfns, RecoveryStats};
use crate::memory::Guest;
use crate::os::linux::{read_p2m_list, P2mList, P2mStats};

use super::error::ConvertError;
use super::tables::FrameMap;

/// Where a legacy PV dump's pfns came from, and how complete they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfnRecovery {
    /// The list read.
    pub list: P2mList,
    /// What its entries were.
    pub entries: P2mStats,
    /// Entries naming a machine frame the dump does not hold.
    pub not_in_dump: u64,
    /// What became of the rest.
    pub pairs: RecoveryStats,
    /// Dumped pages no entry names (left out of the vmcore).
    pub pages_without_pfn: u64,
}

/// Give `guest`'s legacy PV dump the pfns its kernel's p2m `list` names.
pub fn recover_pfns(guest: &mut Guest, list: P2mList) -> Result<PfnRecovery, ConvertError> {
    let dump = guest.dump();
    if dump.knows_pfns() {
        return Err(ConvertError::PfnsKnown);
    }
    let pages = dump.valid_page_count();
    let mut pfns = RecoveredPfns::empty(pages);
    let mut pairs = RecoveryStats::default();
    let mut not_in_dump = 0u64;
    let map = FrameMap::new(dump);
    let entries = read_p2m_list(guest, list, |pfn, mfn| match map.page_of(mfn) {
        Some(page) => pfns.add(page, pfn, &mut pairs),
        None => not_in_dump += 1,
    })
    .map_err(|source| ConvertError::P2mUnreadable {
        va: list.va,
        source,
    })?;
    if pairs.pages == 0 {
        return Err(ConvertError::P2mNamesNoPage {
            va: list.va,
            entries: list.entries,
            mfns: entries.mfns,
        });
    }
    let recovery = PfnRecovery {
        list,
        entries,
        not_in_dump,
        pairs,
        pages_without_pfn: pages - pairs.pages,
    };
    guest.set_recovered_pfns(pfns.with_source(format!(
        "the guest kernel's p2m list at {:#x} ({} entries)",
        list.va, list.entries
    )));
    Ok(recovery)
}
