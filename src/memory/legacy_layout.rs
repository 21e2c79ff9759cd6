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
const FIT_REFS: usize = 512;
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
    /// Pfn ranges (first, last) the fitted shift places by assumption.
    pub uncertain: Vec<(u64, u64)>,
    /// The fitted rule `uncertain` belongs to.
    pub fitted: Option<String>,
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
        if !self.checked {
            out.push(format!(
                "legacy HVM dump: no vCPU had paging on, so the slot→pfn rule ({}) could not be checked against page tables",
                self.rule
            ));
        }
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
        let fitted = self.fitted.as_ref() == Some(&self.rule);
        for (a, b) in self.uncertain.iter().filter(|_| fitted) {
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

/// Score `rule` on `dump`.
fn score(dump: &mut XenDump, roots: &[RootHint], rule: &LegacyHvmRule) -> RuleCheck {
    dump.set_legacy_hvm_rule(rule.clone());
    let (ok, n) = check(dump, roots, None);
    RuleCheck {
        rule: rule.name.clone(),
        tables_ok: ok,
        tables_checked: n,
    }
}

/// Pick the rule `dump`'s legacy HVM slots are read with, and leave it set.
///
/// A by-position rule that fits wins (a shift fitted on top if the plain ones do not);
/// failing that, the 3.0.4 writer's contents-by-index reading if the era allows it,
/// since then the slots cannot be trusted by position and only what an index entry
/// names is justified; failing that, the best by-position rule, with a warning.
pub(super) fn choose(dump: &mut XenDump, roots: &[RootHint]) -> Option<LegacyLayout> {
    let candidates = dump.legacy_hvm_candidates();
    let first = candidates.first()?.clone();
    let checked = !roots.is_empty();
    let mut checks = Vec::new();
    let mut by_position: Option<(RuleCheck, LegacyHvmRule)> = None;
    let mut by_index: Option<(RuleCheck, LegacyHvmRule)> = None;
    for rule in &candidates {
        let c = score(dump, roots, rule);
        checks.push(c.clone());
        let slot = match rule.contents {
            SlotContents::ByPosition => &mut by_position,
            SlotContents::ByIndex => &mut by_index,
        };
        if slot.as_ref().is_none_or(|(b, _)| c.tables_ok > b.tables_ok) {
            *slot = Some((c, rule.clone()));
        }
    }
    let (mut best_check, mut best_rule) = by_position.unwrap_or_else(|| {
        let c = RuleCheck {
            rule: first.name.clone(),
            tables_ok: 0,
            tables_checked: 0,
        };
        (c, first.clone())
    });
    let mut uncertain = Vec::new();
    let mut fitted = None;
    if checked && best_check.share() < FIT_SHARE {
        // A shifted list: fit shifts on top of each by-position rule.
        for base in candidates
            .iter()
            .filter(|r| r.contents == SlotContents::ByPosition)
        {
            let Some((rule, gaps)) = fit_shifts(dump, base, roots) else {
                continue;
            };
            let c = score(dump, roots, &rule);
            checks.push(c.clone());
            if c.share() > best_check.share() && c.tables_ok > best_check.tables_ok {
                best_check = c;
                fitted = Some(rule.name.clone());
                best_rule = rule;
                uncertain = gaps;
            }
        }
    }
    if checked && best_check.share() < FIT_SHARE {
        if let Some((c, rule)) = by_index {
            best_check = c;
            best_rule = rule;
            uncertain.clear();
            fitted = None;
        }
    }
    dump.set_legacy_hvm_rule(best_rule.clone());
    let named_by_index = named_by_index(dump);
    Some(LegacyLayout {
        rule: best_rule.name.clone(),
        contents: best_rule.contents,
        fits: checked && best_check.share() >= FIT_SHARE,
        checks,
        checked,
        uncertain,
        fitted,
        named_by_index,
        kernel_check: None,
    })
}

/// Contents by index: how many slots hold a guest page some index entry names, of all.
pub(super) fn named_by_index(dump: &XenDump) -> Option<(u64, u64)> {
    let rule = dump.legacy_hvm_rule()?;
    (rule.contents == SlotContents::ByIndex).then(|| {
        let slots = dump.valid_page_count();
        let named = (0..slots)
            .filter(|&k| dump.pfn_of(PageIndex(k)).is_some())
            .count() as u64;
        (named, slots)
    })
}

/// A table the fit must explain: its pfn, the shifts that land on a table of its
/// level, and how much a miss costs.
#[derive(Clone, Debug)]
struct Fit {
    pfn: u64,
    shifts: Vec<i64>,
    weight: u32,
}

/// A stretch of equal shift, from the first table that supports it to the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    shift: i64,
    first: u64,
    last: u64,
}

/// A fitted rule and how it checked.
struct Scored {
    ok: u32,
    reached: u32,
    rule: LegacyHvmRule,
    gaps: Vec<(u64, u64)>,
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
        // The builders populated the list from pfn 0: an anchor that a change of shift
        // must come after.
        let mut fits = vec![Fit {
            pfn: 0,
            shifts: vec![0],
            weight: 4,
        }];
        // For each referenced table: the shifts that land on a table of its level.
        fits.extend(refs.iter().filter(|r| r.pfn > 0).filter_map(|r| {
            let s0 = base.slot_of(r.pfn)?;
            let shifts: Vec<i64> = (-FIT_WINDOW..=FIT_WINDOW)
                .filter(|&d| {
                    s0.checked_add_signed(d)
                        .filter(|&s| s < slots)
                        .and_then(|s| dump.page(PageIndex(s)).ok())
                        .is_some_and(|p| looks_like_table(r.mode, r.depth, p, limit))
                })
                .collect();
            (!shifts.is_empty()).then_some(Fit {
                pfn: r.pfn,
                shifts,
                weight: 1,
            })
        }));
        let segments = segment(&fits)?;
        if segments.iter().all(|s| s.shift == 0) {
            return None;
        }
        // Neighbouring tables (Linux allocates them in clusters) make nearby shifts
        // look right too: try the shifts most of each stretch's tables allow, and keep
        // the one the whole walk checks best under.
        let mut best: Option<Scored> = None;
        for combo in alternatives(&fits, &segments) {
            let (shifts, new_gaps) = place_changes(dump, base, &combo);
            let name = format!(
                "{}, shifted: {}",
                base.name,
                shifts
                    .iter()
                    .filter(|&&(p, d)| p > 0 || d != 0)
                    .map(|(p, d)| format!("{d:+} from pfn {p:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let candidate = base.shifted(&name, &shifts);
            dump.set_legacy_hvm_rule(candidate.clone());
            let (ok, n) = check(dump, roots, None);
            // Most tables that check, then the fewest reached (a wrong shift wanders
            // into data that reads as tables pointing anywhere).
            let better = best
                .as_ref()
                .is_none_or(|b| ok > b.ok || (ok == b.ok && n < b.reached));
            if better {
                best = Some(Scored {
                    ok,
                    reached: n,
                    rule: candidate,
                    gaps: new_gaps,
                });
            }
        }
        dump.set_legacy_hvm_rule(base.clone());
        let Scored {
            rule: next,
            gaps: new_gaps,
            ..
        } = best?;
        gaps = new_gaps;
        if next == rule {
            break;
        }
        rule = next;
    }
    (rule != *base).then_some((rule, gaps))
}

/// Most combinations of shifts [`alternatives`] offers.
const MAX_COMBINATIONS: usize = 8;

/// The stretches `segments` with, for each, the shifts at least half its tables allow
/// (its own first): every combination, up to [`MAX_COMBINATIONS`], adjacent equal
/// shifts merged.
fn alternatives(fits: &[Fit], segments: &[Segment]) -> Vec<Vec<Segment>> {
    let per_segment: Vec<Vec<i64>> = segments
        .iter()
        .map(|seg| {
            let inside: Vec<&Fit> = fits
                .iter()
                .filter(|f| f.pfn >= seg.first && f.pfn <= seg.last)
                .collect();
            let mut counts: Vec<(i64, usize)> = Vec::new();
            for f in &inside {
                for &d in &f.shifts {
                    match counts.iter_mut().find(|(s, _)| *s == d) {
                        Some((_, c)) => *c += 1,
                        None => counts.push((d, 1)),
                    }
                }
            }
            let mut alts = vec![seg.shift];
            counts.sort_by_key(|&(d, c)| (std::cmp::Reverse(c), d.abs_diff(seg.shift)));
            alts.extend(
                counts
                    .into_iter()
                    .filter(|&(d, c)| d != seg.shift && c * 2 >= inside.len())
                    .map(|(d, _)| d)
                    .take(3),
            );
            alts
        })
        .collect();
    let mut combos: Vec<Vec<Segment>> = vec![Vec::new()];
    for (seg, alts) in segments.iter().zip(&per_segment) {
        let mut next = Vec::new();
        for combo in &combos {
            for &shift in alts {
                if next.len() >= MAX_COMBINATIONS {
                    break;
                }
                let mut c = combo.clone();
                match c.last_mut() {
                    Some(prev) if prev.shift == shift => prev.last = seg.last,
                    _ => c.push(Segment { shift, ..*seg }),
                }
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

/// Where each change of shift lies. Between the last table seen with the old shift and
/// the first with the new one, the list changed: pages left it (the shift drops) or
/// joined it (it grows). Xen hands out runs of consecutive machine frames, and a page
/// leaving the list breaks such a run, so the change is put at a break in the index's
/// mfns; with several breaks in the stretch, at the last one, and the pfns between the
/// first and the last are uncertain; with none, just before the new shift's first
/// table, and the whole stretch is uncertain. Returns `(from pfn, shift)` pairs and the
/// uncertain pfn ranges.
#[allow(clippy::type_complexity)]
fn place_changes(
    dump: &XenDump,
    base: &LegacyHvmRule,
    segments: &[Segment],
) -> (Vec<(u64, i64)>, Vec<(u64, u64)>) {
    let mut shifts = vec![(0, segments[0].shift)];
    let mut gaps = Vec::new();
    let mfn = |k: u64| dump.mfn_of(PageIndex(k)).map(|m| m.0);
    for w in segments.windows(2) {
        let (old, new) = (w[0], w[1]);
        let low = old.shift.min(new.shift);
        let slot = |pfn: u64, shift: i64| base.slot_of(pfn)?.checked_add_signed(shift);
        let (Some(lo), Some(hi)) = (slot(old.last, old.shift), slot(new.first, new.shift)) else {
            shifts.push((new.first, new.shift));
            continue;
        };
        // Breaks the base rule itself explains (the VGA hole's pages left the list
        // too) are not candidates.
        let base_boundary = |k: u64| base.pfn_at(k - 1).map(|p| p + 1) != base.pfn_at(k);
        let breaks: Vec<u64> = (lo + 1..=hi)
            .filter(|&k| !base_boundary(k))
            .filter(|&k| match (mfn(k - 1), mfn(k)) {
                (Some(a), Some(b)) => a.abs_diff(b) != 1,
                _ => true,
            })
            .collect();
        // The pfn the new shift starts at, for a change at slot k.
        let from = |k: u64| {
            k.checked_add_signed(-low)
                .and_then(|s| base.pfn_at(s))
                .filter(|&p| p > old.last && p <= new.first)
        };
        match (
            breaks.first().and_then(|&k| from(k)),
            breaks.last().and_then(|&k| from(k)),
        ) {
            (Some(first), Some(last)) => {
                shifts.push((last, new.shift));
                if first < last {
                    gaps.push((first, last - 1));
                }
            }
            _ => {
                shifts.push((new.first, new.shift));
                if old.last + 1 < new.first {
                    gaps.push((old.last + 1, new.first - 1));
                }
            }
        }
    }
    (shifts, gaps)
}

/// The piecewise-constant shift over ascending pfns that lands on the most tables with
/// few changes, as stretches from the first table supporting each shift to the last.
fn segment(fits: &[Fit]) -> Option<Vec<Segment>> {
    if fits.is_empty() {
        return None;
    }
    let mut shifts: Vec<i64> = fits.iter().flat_map(|f| f.shifts.iter().copied()).collect();
    shifts.push(0);
    shifts.sort_unstable();
    shifts.dedup();
    let n = shifts.len();
    let miss = |i: usize, s: usize| -> u32 {
        if fits[i].shifts.contains(&shifts[s]) {
            0
        } else {
            MISS_COST * fits[i].weight
        }
    };
    // cost[s]: best total for fits so far ending with shift s; from[i][s]: previous s.
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
    // A fit no shift explains says nothing about where a change lies.
    let mut out: Vec<Segment> = Vec::new();
    for (f, &c) in fits.iter().zip(&chosen) {
        let shift = shifts[c];
        if !f.shifts.contains(&shift) {
            continue;
        }
        match out.last_mut() {
            Some(seg) if seg.shift == shift => seg.last = f.pfn,
            _ => out.push(Segment {
                shift,
                first: f.pfn,
                last: f.pfn,
            }),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_follows_the_tables_and_ignores_strays() {
        // Tables at shift 0 up to pfn 0x300, at -1 from 0x310 on; one stray table
        // next door (a cluster) and one ref with two readings.
        let fit = |pfn, shifts: &[i64]| Fit {
            pfn,
            shifts: shifts.to_vec(),
            weight: 1,
        };
        let mut fits: Vec<Fit> = Vec::new();
        for p in (0x100..0x300).step_by(0x20) {
            fits.push(fit(p, &[0]));
        }
        fits.push(fit(0x2f8, &[0, 1]));
        fits.push(fit(0x305, &[7]));
        for p in (0x310..0x500).step_by(0x20) {
            fits.push(fit(p, &[-1]));
        }
        fits.sort_by_key(|f| f.pfn);
        let segs = segment(&fits).unwrap();
        // The stray at 0x305 says nothing of where the change lies.
        assert_eq!(
            segs,
            [
                Segment {
                    shift: 0,
                    first: 0x100,
                    last: 0x2f8
                },
                Segment {
                    shift: -1,
                    first: 0x310,
                    last: 0x4f0
                }
            ]
        );
        // A heavy anchor at pfn 0 keeps shift 0 below the first table.
        let mut anchored = vec![Fit {
            pfn: 0,
            shifts: vec![0],
            weight: 4,
        }];
        anchored.extend((0x700..0x710).map(|p| fit(p, &[-32])));
        let segs = segment(&anchored).unwrap();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            (segs[0].shift, segs[1].shift, segs[1].first),
            (0, -32, 0x700)
        );
    }
}
