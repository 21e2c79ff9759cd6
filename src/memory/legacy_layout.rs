//! Legacy (pre-ELF) HVM dumps: which guest frame each slot holds, checked against the
//! guest's own page tables.
//!
//! The format records only the machine frames of the domain's page list; the dump layer
//! offers the slot → pfn rules the writer's era makes plausible
//! ([`XenDump::legacy_hvm_candidates`]). Each vCPU's CR3 names its top-level table by
//! machine frame, which the list finds whatever the rule; the tables below hold pfns.
//! Under the right rule those pfns land on pages that are page tables of the next level,
//! under a wrong one mostly on data. Each rule is scored by how many of the tables it
//! reaches (breadth first, bounded) look like tables; the best one is kept.
//!
//! When none fits well, the list was probably shifted (pages handed to
//! `add_to_physmap`, ballooned out, inserted): for each referenced table the nearby
//! slots that hold a table of the right level are found, and a piecewise-constant
//! shift over pfns is fitted to them (fewest misses, few changes), then checked like
//! the other rules. Where a shift changes, the pfns between the last table seen with
//! the old shift and the first with the new one are placed by assumption; they are
//! reported as uncertain.

use std::collections::{HashSet, VecDeque};

use serde::Serialize;

use super::paging::PagingMode;
use super::plausible::{child_tables, looks_like_table, root_table};
use crate::addr::{GuestFrame, MachineFrame, PageIndex};
use crate::dump::{LegacyHvmRule, SlotContents, XenDump};

/// Tables (root included) one rule's check reads at most.
const CHECK_BUDGET: u32 = 4096;
/// Table references the shift fit uses at most.
const FIT_REFS: usize = 1024;
/// Largest shift, in slots, the fit tries either way.
const FIT_WINDOW: i64 = 64;
/// Cost of a referenced table the fitted shift does not land on a table.
const MISS_COST: u32 = 2;
/// Cost of a change of shift (so a change needs a few tables to support it).
const CHANGE_COST: u32 = 5;
/// Share of tables that must check for a rule to "fit".
const FIT_SHARE: f64 = 0.9;

/// Where a vCPU's tables start: its paging mode and the machine frame CR3 names.
#[derive(Clone, Copy, Debug)]
pub(super) struct RootHint {
    pub mode: PagingMode,
    pub mfn: MachineFrame,
}

/// How one rule fared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCheck {
    /// The rule, in words.
    pub rule: String,
    /// Tables reached (the vCPUs' roots included) that look like page tables.
    pub tables_ok: u32,
    /// Tables reached.
    pub tables_checked: u32,
}

impl RuleCheck {
    fn share(&self) -> f64 {
        if self.tables_checked == 0 {
            0.0
        } else {
            f64::from(self.tables_ok) / f64::from(self.tables_checked)
        }
    }
}

/// Which slot → pfn rule a legacy HVM dump is read with, and why.
#[derive(Clone, Debug, Serialize)]
pub struct LegacyLayout {
    /// The rule in use.
    pub rule: String,
    /// Whether a slot holds the page at its list position or the one its index entry
    /// names (the Xen 3.0.4 writer).
    pub contents: SlotContents,
    /// Every rule tried, the one in use among them.
    pub checks: Vec<RuleCheck>,
    /// Did any vCPU have paging on, so that its tables could be checked?
    pub checked: bool,
    /// Does the rule in use fit (nearly every table reached looks like one)?
    pub fits: bool,
    /// Pfn ranges (first, last) a fitted shift places by assumption.
    pub uncertain: Vec<(u64, u64)>,
    /// Contents by index: guest pages some index entry names, of all slots.
    pub named_by_index: Option<(u64, u64)>,
    /// What the guest kernel's own data said (filled in by the OS layer).
    pub kernel_check: Option<String>,
}

impl LegacyLayout {
    /// One line for people: the rule and how well it checked.
    pub fn describe(&self) -> String {
        let used = self.checks.iter().find(|c| c.rule == self.rule);
        let how = match used {
            _ if !self.checked => "not checked: no vCPU had paging on".to_string(),
            Some(c) => format!(
                "{} of {} page tables reached check{}",
                c.tables_ok,
                c.tables_checked,
                if self.fits { "" } else { ": does not fit" }
            ),
            None => "not checked".to_string(),
        };
        format!("{} ({how})", self.rule)
    }

    /// Warnings for `info` and the server log.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.checked && !self.fits {
            let best = self
                .checks
                .iter()
                .map(|c| format!("{}: {} of {}", c.rule, c.tables_ok, c.tables_checked))
                .collect::<Vec<_>>()
                .join("; ");
            out.push(format!(
                "legacy HVM dump: no slot→pfn rule fits the guest's page tables ({best}); using the best, {}: pages may be read from the wrong slots",
                self.rule
            ));
        }
        if let (SlotContents::ByIndex, Some((named, slots))) = (self.contents, self.named_by_index)
        {
            out.push(format!(
                "legacy HVM dump of Xen 3.0.4: its writer mapped each listed machine frame as a guest frame, so a slot holds the guest page whose pfn equals its index entry, or stale bytes; only those {named} of {slots} pages are served, every other guest page reads as not in the dump"
            ));
        }
        for (a, b) in &self.uncertain {
            out.push(format!(
                "legacy HVM dump: the page list shifts between pfn {a:#x} and {b:#x}; those pfns are placed by assumption"
            ));
        }
        out
    }
}

/// One table a rule's check reached: where, and at which level.
#[derive(Clone, Copy, Debug)]
struct TableRef {
    mode: PagingMode,
    depth: usize,
    pfn: u64,
}

/// Frames below this are plausible table pointers under `dump`'s current rule.
fn frame_limit(dump: &XenDump) -> u64 {
    dump.legacy_hvm_rule()
        .and_then(LegacyHvmRule::pfn_bounds)
        .map_or(u64::MAX, |(_, hi)| hi + 1)
}

/// Check the tables reachable from `roots` under `dump`'s current rule.
fn check(dump: &XenDump, roots: &[RootHint], refs: Option<&mut Vec<TableRef>>) -> (u32, u32) {
    let limit = frame_limit(dump);
    let (mut ok, mut checked) = (0u32, 0u32);
    let mut queue = VecDeque::new();
    let mut seen = HashSet::new();
    let mut collected = Vec::new();
    for r in roots {
        checked += 1;
        let page = dump.page_of_mfn(r.mfn).and_then(|i| dump.page(i).ok());
        let Some(table) = page.and_then(|p| root_table(r.mode, p, 0)) else {
            continue;
        };
        if looks_like_table(r.mode, 0, table, limit) {
            ok += 1;
            for f in child_tables(r.mode, 0, table) {
                queue.push_back(TableRef {
                    mode: r.mode,
                    depth: 1,
                    pfn: f,
                });
            }
        }
    }
    while let Some(t) = queue.pop_front() {
        if checked >= CHECK_BUDGET {
            break;
        }
        if !seen.insert((t.pfn, t.depth)) {
            continue;
        }
        checked += 1;
        collected.push(t);
        let page = dump
            .page_of_pfn(GuestFrame(t.pfn))
            .and_then(|i| dump.page(i).ok());
        if let Some(p) = page.filter(|p| looks_like_table(t.mode, t.depth, p, limit)) {
            ok += 1;
            for f in child_tables(t.mode, t.depth, p) {
                queue.push_back(TableRef {
                    depth: t.depth + 1,
                    pfn: f,
                    ..t
                });
            }
        }
    }
    if let Some(r) = refs {
        *r = collected;
    }
    (ok, checked)
}

/// Pick the rule `dump`'s legacy HVM slots are read with, and leave it set.
pub(super) fn choose(dump: &mut XenDump, roots: &[RootHint]) -> Option<LegacyLayout> {
    let candidates = dump.legacy_hvm_candidates();
    let first = candidates.first()?.clone();
    let mut checks = Vec::new();
    let mut best: Option<(RuleCheck, LegacyHvmRule)> = None;
    for rule in &candidates {
        dump.set_legacy_hvm_rule(rule.clone());
        let (ok, n) = check(dump, roots, None);
        let c = RuleCheck {
            rule: rule.name.clone(),
            tables_ok: ok,
            tables_checked: n,
        };
        checks.push(c.clone());
        if best.as_ref().is_none_or(|(b, _)| c.tables_ok > b.tables_ok) {
            best = Some((c, rule.clone()));
        }
    }
    let (mut best_check, mut best_rule) = best.unwrap_or_else(|| {
        (
            RuleCheck {
                rule: first.name.clone(),
                tables_ok: 0,
                tables_checked: 0,
            },
            first.clone(),
        )
    });
    let checked = !roots.is_empty();
    let mut uncertain = Vec::new();
    if checked && best_check.share() < FIT_SHARE {
        // A shifted list: fit shifts on top of each by-position rule.
        for base in candidates
            .iter()
            .filter(|r| r.contents == SlotContents::ByPosition)
        {
            let Some((rule, gaps)) = fit_shifts(dump, base, roots) else {
                continue;
            };
            dump.set_legacy_hvm_rule(rule.clone());
            let (ok, n) = check(dump, roots, None);
            let c = RuleCheck {
                rule: rule.name.clone(),
                tables_ok: ok,
                tables_checked: n,
            };
            checks.push(c.clone());
            if c.share() > best_check.share() && c.tables_ok > best_check.tables_ok {
                best_check = c;
                best_rule = rule;
                uncertain = gaps;
            }
        }
    }
    dump.set_legacy_hvm_rule(best_rule.clone());
    let named_by_index = (best_rule.contents == SlotContents::ByIndex).then(|| {
        let slots = dump.valid_page_count();
        let named = (0..slots)
            .filter(|&k| dump.pfn_of(PageIndex(k)).is_some())
            .count() as u64;
        (named, slots)
    });
    Some(LegacyLayout {
        rule: best_rule.name.clone(),
        contents: best_rule.contents,
        fits: checked && best_check.share() >= FIT_SHARE,
        checks,
        checked,
        uncertain,
        named_by_index,
        kernel_check: None,
    })
}

/// Fit shifts of `base` to the tables the roots reach; `None` if nothing needs one.
fn fit_shifts(
    dump: &mut XenDump,
    base: &LegacyHvmRule,
    roots: &[RootHint],
) -> Option<(LegacyHvmRule, Vec<(u64, u64)>)> {
    let slots = dump.valid_page_count();
    let mut rule = base.clone();
    let mut gaps = Vec::new();
    // Each round reaches deeper tables through the shifts found so far.
    for _ in 0..3 {
        dump.set_legacy_hvm_rule(rule.clone());
        let mut refs = Vec::new();
        check(dump, roots, Some(&mut refs));
        dump.set_legacy_hvm_rule(base.clone());
        let limit = frame_limit(dump);
        refs.sort_by_key(|r| r.pfn);
        refs.dedup_by_key(|r| r.pfn);
        if refs.len() > FIT_REFS {
            let step = refs.len() as f64 / FIT_REFS as f64;
            refs = (0..FIT_REFS)
                .map(|i| refs[(i as f64 * step) as usize])
                .collect();
        }
        // For each referenced table: the shifts that land on a table of its level.
        let fits: Vec<(u64, Vec<i64>)> = refs
            .iter()
            .filter_map(|r| {
                let s0 = base.slot_of(r.pfn)?;
                let ds: Vec<i64> = (-FIT_WINDOW..=FIT_WINDOW)
                    .filter(|&d| {
                        s0.checked_add_signed(d)
                            .filter(|&s| s < slots)
                            .and_then(|s| dump.page(PageIndex(s)).ok())
                            .is_some_and(|p| looks_like_table(r.mode, r.depth, p, limit))
                    })
                    .collect();
                (!ds.is_empty()).then_some((r.pfn, ds))
            })
            .collect();
        let (shifts, new_gaps) = segment(&fits)?;
        if shifts.iter().all(|&(_, d)| d == 0) {
            return None;
        }
        let name = format!(
            "{}, shifted: {}",
            base.name,
            shifts
                .iter()
                .map(|(p, d)| format!("{d:+} from pfn {p:#x}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let next = base.shifted(&name, &shifts);
        gaps = new_gaps;
        if next == rule {
            break;
        }
        rule = next;
    }
    (rule != *base).then_some((rule, gaps))
}

/// The piecewise-constant shift over ascending pfns that lands on the most tables with
/// few changes: `(from pfn, shift)` pairs, and the pfn gaps around each change.
#[allow(clippy::type_complexity)]
fn segment(fits: &[(u64, Vec<i64>)]) -> Option<(Vec<(u64, i64)>, Vec<(u64, u64)>)> {
    if fits.is_empty() {
        return None;
    }
    let mut shifts: Vec<i64> = fits.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    shifts.push(0);
    shifts.sort_unstable();
    shifts.dedup();
    let n = shifts.len();
    let miss = |i: usize, s: usize| -> u32 {
        if fits[i].1.contains(&shifts[s]) {
            0
        } else {
            MISS_COST
        }
    };
    // cost[s]: best total for refs so far ending with shift s; from[i][s]: previous s.
    let mut cost: Vec<u32> = (0..n).map(|s| miss(0, s)).collect();
    let mut from = vec![vec![0usize; n]; fits.len()];
    for (i, from_i) in from.iter_mut().enumerate().skip(1) {
        let (best_s, best_c) = cost
            .iter()
            .enumerate()
            .min_by_key(|&(_, c)| *c)
            .map(|(s, c)| (s, *c))
            .unwrap_or((0, 0));
        let mut next = vec![0u32; n];
        for s in 0..n {
            let (prev, c) = if cost[s] <= best_c + CHANGE_COST {
                (s, cost[s])
            } else {
                (best_s, best_c + CHANGE_COST)
            };
            from_i[s] = prev;
            next[s] = c + miss(i, s);
        }
        cost = next;
    }
    let mut s = cost
        .iter()
        .enumerate()
        .min_by_key(|&(_, c)| *c)
        .map(|(s, _)| s)?;
    let mut chosen = vec![0usize; fits.len()];
    for i in (0..fits.len()).rev() {
        chosen[i] = s;
        s = from[i][s];
    }
    // Segments of equal shift, each reported from the first table that supports it to
    // the last (a table no shift explains says nothing about where a change lies).
    let mut segments: Vec<(i64, Option<(u64, u64)>)> = Vec::new();
    for (i, &c) in chosen.iter().enumerate() {
        let shift = shifts[c];
        let supports = fits[i].1.contains(&shift);
        match segments.last_mut() {
            Some((s, span)) if *s == shift => {
                if supports {
                    *span = Some(span.map_or((fits[i].0, fits[i].0), |(a, _)| (a, fits[i].0)));
                }
            }
            _ => segments.push((shift, supports.then_some((fits[i].0, fits[i].0)))),
        }
    }
    let mut out = Vec::new();
    let mut gaps = Vec::new();
    let mut last_end: Option<u64> = None;
    for (shift, span) in segments {
        let Some((first, last)) = span else {
            continue;
        };
        match last_end {
            None => out.push((0, shift)),
            Some(end) => {
                out.push((first, shift));
                if end + 1 < first {
                    gaps.push((end + 1, first - 1));
                }
            }
        }
        last_end = Some(last);
    }
    out.dedup_by_key(|s| s.1);
    Some((out, gaps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_follows_the_tables_and_ignores_strays() {
        // Tables at shift 0 up to pfn 0x300, at -1 from 0x310 on; one stray table
        // next door (a cluster) and one ref with two readings.
        let mut fits: Vec<(u64, Vec<i64>)> = Vec::new();
        for p in (0x100..0x300).step_by(0x20) {
            fits.push((p, vec![0]));
        }
        fits.push((0x2f8, vec![0, 1]));
        fits.push((0x305, vec![7]));
        for p in (0x310..0x500).step_by(0x20) {
            fits.push((p, vec![-1]));
        }
        fits.sort_by_key(|f| f.0);
        let (shifts, gaps) = segment(&fits).unwrap();
        assert_eq!(shifts, [(0, 0), (0x310, -1)]);
        // The stray at 0x305 says nothing of where the change lies.
        assert_eq!(gaps, [(0x2f9, 0x30f)]);
    }
}
