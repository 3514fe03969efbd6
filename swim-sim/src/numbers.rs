//! The README's table of simulated figures, regenerated from the code at
//! hand: each row names its own command (a scenario swept over fixed seeds,
//! or a run from flags), runs it here and formats what it measured. A
//! simulated figure depends on nothing but the code and the seed, so a row
//! whose figure differs from the README's has moved: `swim-sim numbers`
//! fails naming it, and `swim-sim numbers --write` rewrites the table.
//!
//! Rows come in three tiers: [`Tier::Ci`] (what the test suite checks, in
//! under 2 minutes), [`Tier::Default`] (under 4 GB of memory) and
//! [`Tier::Heavy`] (many minutes, up to 6 GB). A tier runs its rows and
//! those of the tiers below it. Wall time and memory are the machine's,
//! not the code's: the command prints them beside the machine's load and
//! never compares them.

use crate::deliveries::Delivery;
use crate::scenario::Scenario;
use crate::sim::{Options, Report, Sim};
use std::path::Path;
use std::time::Duration;

/// How heavy a row is to regenerate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Checked by the test suite: the whole tier runs in under 2 minutes.
    Ci,
    /// Under 4 GB of memory, minutes of wall time.
    Default,
    /// The large clusters: many minutes, up to 6 GB.
    Heavy,
}

/// What a row runs.
#[derive(Clone, Copy, Debug)]
pub enum Runs {
    /// A shipped scenario (a path under `swim-sim/scenarios/`) over seeds
    /// `from..to`.
    Sweep {
        /// The scenario, relative to `swim-sim/scenarios/`.
        scenario: &'static str,
        /// First seed.
        from: u64,
        /// One past the last seed.
        to: u64,
    },
    /// Every node joins through node 0 in the first second (`swim-sim run
    /// --nodes N --seed S --duration D`), seeds `from..to`.
    Join {
        /// Cluster size.
        nodes: usize,
        /// Simulated seconds.
        secs: u64,
        /// First seed.
        from: u64,
        /// One past the last seed.
        to: u64,
    },
}

/// One row of the README's table.
pub struct Row {
    /// The first column: what is measured. It names the row.
    pub what: &'static str,
    /// How heavy it is.
    pub tier: Tier,
    /// What it runs.
    pub runs: Runs,
    /// The figure, from the reports of its runs (seed order).
    pub figure: fn(&[Report]) -> String,
}

impl Row {
    /// The row's own command, as the README's third column shows it.
    pub fn command(&self) -> String {
        match self.runs {
            Runs::Sweep { scenario, from, to } => {
                format!("`swim-sim sweep swim-sim/scenarios/{scenario} --seeds {from}..{to}`")
            }
            Runs::Join {
                nodes,
                secs,
                from,
                to,
            } => {
                let seeds = if to == from + 1 {
                    String::new()
                } else {
                    format!(" (seeds {from}-{})", to - 1)
                };
                format!("`swim-sim run --nodes {nodes} --seed S --duration {secs}s`{seeds}")
            }
        }
    }

    /// Runs the row's simulations (`root` is the workspace's root) and
    /// formats its figure.
    pub fn measure(&self, root: &Path) -> Result<String, String> {
        let mut reports = Vec::new();
        match self.runs {
            Runs::Sweep { scenario, from, to } => {
                let path = root.join("swim-sim/scenarios").join(scenario);
                let s = Scenario::load(&path)?;
                for seed in from..to {
                    let run = s.with_seed(seed)?;
                    let mut report = Sim::new(run.options.clone())?.run();
                    run.attach_honest(&mut report)?;
                    reports.push(report);
                }
            }
            Runs::Join {
                nodes,
                secs,
                from,
                to,
            } => {
                for seed in from..to {
                    let o = Options::new(nodes, seed, Duration::from_secs(secs));
                    reports.push(Sim::new(o)?.run());
                }
            }
        }
        Ok((self.figure)(&reports))
    }

    /// The row as the README shows it.
    pub fn line(&self, figure: &str) -> String {
        format!("| {} | {figure} | {} |", self.what, self.command())
    }
}

/// Seconds with three decimals.
fn s(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// `min-max s (median m s)` of `values` (ms), or what is missing.
fn spread(mut values: Vec<u64>) -> String {
    values.sort_unstable();
    match (values.first(), values.last()) {
        (Some(&lo), Some(&hi)) => format!(
            "{}-{} s (median {} s)",
            s(lo),
            s(hi),
            s(values[values.len() / 2])
        ),
        _ => "nothing measured".into(),
    }
}

/// Joined figures with a count of runs that never got there.
fn timed(values: impl Iterator<Item = Option<u64>>) -> String {
    let (done, missed): (Vec<_>, Vec<_>) = values.partition(Option::is_some);
    let mut out = spread(done.into_iter().flatten().collect());
    if !missed.is_empty() {
        out.push_str(&format!(", {} not by the end of the run", missed.len()));
    }
    out
}

fn false_deaths(reports: &[Report]) -> u64 {
    reports.iter().map(|r| r.false_positive_deaths).sum()
}

fn converged(reports: &[Report]) -> String {
    if let Some(all) = reports
        .iter()
        .map(|r| r.converged_ms.map(s))
        .collect::<Option<Vec<_>>>()
    {
        return format!("converged at {} s simulated", all.join(" / "));
    }
    let each: Vec<String> = reports
        .iter()
        .map(|r| {
            r.converged_ms.map_or_else(
                || format!("not by the end of the run ({} s)", s(r.simulated_ms)),
                |t| format!("{} s", s(t)),
            )
        })
        .collect();
    format!("converged at {} simulated", each.join(" / "))
}

fn crash_one(reports: &[Report]) -> String {
    format!(
        "dead everywhere {} after the crash; {} false deaths",
        timed(
            reports
                .iter()
                .flat_map(|r| r.crashes.iter())
                .map(|c| { c.all_dead_ms.map(|t| t - c.crashed_at_ms) })
        ),
        false_deaths(reports)
    )
}

fn reconverged(reports: &[Report]) -> String {
    let seeds_with = reports
        .iter()
        .filter(|r| r.false_positive_deaths > 0)
        .count();
    format!(
        "re-converged {} after the heal; {} false deaths (on {seeds_with} of {} seeds)",
        timed(
            reports
                .iter()
                .flat_map(|r| r.heals.iter())
                .map(|h| h.reconverged_after_ms)
        ),
        false_deaths(reports),
        reports.len()
    )
}

fn fig4(reports: &[Report]) -> String {
    format!(
        "all 17 alive in every view {} after the start; {} false deaths",
        timed(reports.iter().map(|r| r.alive_everywhere_ms)),
        false_deaths(reports)
    )
}

fn events(reports: &[Report]) -> String {
    let all: Vec<&Delivery> = reports.iter().flat_map(|r| r.deliveries.iter()).collect();
    let once = all
        .iter()
        .filter(|d| d.duplicates == 0 && d.replayed == 0 && d.delivered == d.expected)
        .count();
    let update = reports
        .iter()
        .flat_map(|r| r.coverage.iter())
        .filter_map(|c| c.complete_after_ms)
        .collect::<Vec<_>>();
    let beside = if update.is_empty() {
        String::new()
    } else {
        format!("; an update announced beside it: {}", spread(update))
    };
    format!(
        "{once} of {} events delivered exactly once by every node, everywhere {} after firing{beside}",
        all.len(),
        timed(all.iter().map(|d| d.everywhere_after_ms)),
    )
}

fn queries(reports: &[Report]) -> String {
    let all: Vec<_> = reports.iter().flat_map(|r| r.queries.iter()).collect();
    let lo = all.iter().map(|q| q.responded).min().unwrap_or(0);
    let hi = all.iter().map(|q| q.responded).max().unwrap_or(0);
    let expected = all.iter().map(|q| q.expected).max().unwrap_or(0);
    let lowest = all.iter().map(|q| q.complete).fold(f64::INFINITY, f64::min);
    format!(
        "{lo}-{hi} of {expected} responses per query over {} queries (lowest {:.2} %), {} finished by their origin",
        all.len(),
        lowest * 100.0,
        all.iter().filter(|q| q.done.is_some()).count()
    )
}

fn hostile_keys(reports: &[Report]) -> String {
    let h: Vec<_> = reports.iter().filter_map(|r| r.hostile.as_ref()).collect();
    let worst = h
        .iter()
        .filter_map(|h| h.forged_after_write_max_ms)
        .max()
        .unwrap_or(0);
    let lost: u64 = h.iter().map(|h| h.writes_lost).sum();
    let back: u64 = h.iter().map(|h| h.resurrections).sum();
    let taken: Vec<u64> = h.iter().map(|h| h.forged_keys).collect();
    format!(
        "every forged value gone within {} s of its owner's next write (worst run); {}-{} forged (reader, owner, key) values taken a run; {lost} owner writes lost, {back} resurrections",
        s(worst),
        taken.iter().min().unwrap_or(&0),
        taken.iter().max().unwrap_or(&0),
    )
}

fn partition_keys(reports: &[Report]) -> String {
    format!(
        "members re-converge {} after the heal, keys agree {} after it; {} false deaths",
        timed(
            reports
                .iter()
                .flat_map(|r| r.heals.iter())
                .map(|h| h.reconverged_after_ms)
        ),
        timed(
            reports
                .iter()
                .flat_map(|r| r.heals.iter())
                .map(|h| h.keys_agreed_after_ms)
        ),
        false_deaths(reports)
    )
}

fn flaky(reports: &[Report]) -> String {
    let held: Vec<String> = reports
        .iter()
        .map(|r| {
            let lowest = r.hold_out.iter().map(|h| h.min_share).fold(1.0, f64::min);
            format!("{:.1} %", lowest * 100.0)
        })
        .collect();
    format!(
        "every flaky member held out by at least {} of healthy views (per seed); alive everywhere at {}; {} false deaths",
        held.join(" / "),
        reports
            .iter()
            .map(|r| r.alive_everywhere_ms.map_or("not by the end".into(), |t| format!("{} s", s(t))))
            .collect::<Vec<_>>()
            .join(" / "),
        false_deaths(reports)
    )
}

/// Every row, in the README's order.
pub const ROWS: &[Row] = &[
    Row {
        what: "100 nodes join through one seed (lan)",
        tier: Tier::Ci,
        runs: Runs::Join {
            nodes: 100,
            secs: 10,
            from: 1,
            to: 4,
        },
        figure: converged,
    },
    Row {
        what: "crash of 1 in 100 (lan, `crash-one`, the quick start): dead on every node",
        tier: Tier::Ci,
        runs: Runs::Sweep {
            scenario: "crash-one.toml",
            from: 1,
            to: 11,
        },
        figure: crash_one,
    },
    Row {
        what: "30 nodes re-converge after a 15 s partition heals",
        tier: Tier::Ci,
        runs: Runs::Sweep {
            scenario: "partition-heal.toml",
            from: 0,
            to: 20,
        },
        figure: reconverged,
    },
    Row {
        what: "the SWIM paper's Fig. 4: 17 members join one every 2 s at 10 % loss",
        tier: Tier::Ci,
        runs: Runs::Sweep {
            scenario: "swim-fig4-join.toml",
            from: 1,
            to: 11,
        },
        figure: fig4,
    },
    Row {
        what: "50 nodes cut 20/30 for 60 s, 5 user events fired on each side, a restart and a late joiner",
        tier: Tier::Ci,
        runs: Runs::Sweep {
            scenario: "events-partition.toml",
            from: 1,
            to: 21,
        },
        figure: events,
    },
    Row {
        what: "1,000 nodes join through one seed (lan)",
        tier: Tier::Default,
        runs: Runs::Join {
            nodes: 1000,
            secs: 10,
            from: 1,
            to: 4,
        },
        figure: converged,
    },
    Row {
        what: "an event fired on one of 1,000 nodes, 0 % loss",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/events-1000.toml",
            from: 1,
            to: 21,
        },
        figure: events,
    },
    Row {
        what: "the same at 5 % loss",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/events-1000-loss5.toml",
            from: 1,
            to: 21,
        },
        figure: events,
    },
    Row {
        what: "a query to 1,000 nodes at 1 % loss (relay factor 2), before the default timeout",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/query-1000-loss1.toml",
            from: 1,
            to: 11,
        },
        figure: queries,
    },
    Row {
        what: "the same at 5 % loss",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/query-1000-loss5.toml",
            from: 1,
            to: 11,
        },
        figure: queries,
    },
    Row {
        what: "500 nodes join in the first second; a user event fired at 3 s while the join wave's updates fill every packet",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/events-join-wave.toml",
            from: 1,
            to: 11,
        },
        figure: events,
    },
    Row {
        what: "a stranger forges 1 message/s for 5 min on a plain cluster of 100; owners write every 10 s",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "hostile/keys-plain-100.toml",
            from: 1,
            to: 11,
        },
        figure: hostile_keys,
    },
    Row {
        what: "200 nodes cut in halves for 5 min, 100 writes and 50 deletes a side",
        tier: Tier::Default,
        runs: Runs::Sweep {
            scenario: "bench/partition-keys-200.toml",
            from: 1,
            to: 11,
        },
        figure: partition_keys,
    },
    Row {
        what: "5,000 nodes join through one seed within 1 s",
        tier: Tier::Heavy,
        runs: Runs::Sweep {
            scenario: "bench/join-5000.toml",
            from: 1,
            to: 4,
        },
        figure: converged,
    },
    Row {
        what: "10 of 1,000 nodes lose 80 % of datagrams both ways for 5 min (the Rapid paper's flaky members)",
        tier: Tier::Heavy,
        runs: Runs::Sweep {
            scenario: "bench/flaky-10-of-1000.toml",
            from: 1,
            to: 4,
        },
        figure: flaky,
    },
];

/// Where the table starts and ends in the README.
pub const BEGIN: &str = "<!-- numbers: begin (swim-sim numbers --write) -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- numbers: end -->";

/// The table's header lines.
const HEADER: &str = "| what | figure (simulated, exact) | command |\n| --- | --- | --- |";

/// The figures the README shows now, by row (`None`: no such row).
pub fn written(readme: &str) -> Result<Vec<Option<String>>, String> {
    let table = table_of(readme)?;
    Ok(ROWS
        .iter()
        .enumerate()
        .map(|(i, row)| {
            table.get(i).and_then(|line| {
                let prefix = format!("| {} | ", row.what);
                let suffix = format!(" | {} |", row.command());
                line.strip_prefix(&prefix)?
                    .strip_suffix(&suffix)
                    .map(str::to_string)
            })
        })
        .collect())
}

/// The table's rows (after the header) between the markers.
fn table_of(readme: &str) -> Result<Vec<&str>, String> {
    let start = readme
        .find(BEGIN)
        .ok_or_else(|| format!("the README has no line {BEGIN}"))?;
    let end = readme[start..]
        .find(END)
        .ok_or_else(|| format!("the README has no line {END} after {BEGIN}"))?;
    let body = &readme[start + BEGIN.len()..start + end];
    Ok(body
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| what |") && !l.starts_with("| ---"))
        .collect())
}

/// `readme` with the table rewritten from `figures` (one per row; `None`
/// keeps the README's figure, or leaves a row not yet measured empty).
pub fn rewrite(readme: &str, figures: &[Option<String>]) -> Result<String, String> {
    let old = written(readme)?;
    let start = readme.find(BEGIN).ok_or("no table")? + BEGIN.len();
    let end = start + readme[start..].find(END).ok_or("no table end")?;
    let mut table = format!("\n{HEADER}\n");
    for (i, row) in ROWS.iter().enumerate() {
        let figure = figures
            .get(i)
            .cloned()
            .flatten()
            .or_else(|| old.get(i).cloned().flatten())
            .unwrap_or_else(|| "not measured yet".into());
        table.push_str(&row.line(&figure));
        table.push('\n');
    }
    Ok(format!("{}{table}{}", &readme[..start], &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_read_back_row_by_row_and_rewritten_in_place() {
        let readme = format!(
            "intro\n\n{BEGIN}\n{HEADER}\n{}\n{END}\n\nafter\n",
            ROWS[0].line("x")
        );
        let read = written(&readme).unwrap();
        assert_eq!(read[0].as_deref(), Some("x"));
        assert!(read[1..].iter().all(Option::is_none));
        let mut figures = vec![None; ROWS.len()];
        figures[1] = Some("y".to_string());
        let again = rewrite(&readme, &figures).unwrap();
        assert!(again.starts_with("intro\n\n") && again.ends_with(&format!("{END}\n\nafter\n")));
        let read = written(&again).unwrap();
        assert_eq!(read[0].as_deref(), Some("x"), "kept");
        assert_eq!(read[1].as_deref(), Some("y"), "written");
        assert_eq!(read[2].as_deref(), Some("not measured yet"));
        assert!(written("no table").is_err());
    }

    #[test]
    fn rows_are_named_once_and_ordered_by_nothing_but_the_list() {
        let mut names: Vec<(&str, String)> = ROWS.iter().map(|r| (r.what, r.command())).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ROWS.len());
        assert!(spread(vec![3000, 1000, 2000]).contains("1.000-3.000 s (median 2.000 s)"));
        assert!(timed([Some(1000), None].into_iter()).ends_with("1 not by the end of the run"));
    }
}
