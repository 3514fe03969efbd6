//! `swim-sim`: run a simulated swim cluster from a seed and report what happened.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use swim_core::{Config, Instant};
use swim_sim::units::{parse_at, parse_duration};
use swim_sim::{Checks, Fault, FaultKind, Options, Report, Scenario, Sim, Verdict};

#[derive(Parser)]
#[command(
    name = "swim-sim",
    version,
    about = "Deterministic simulator for swim clusters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    Lan,
    Wan,
    Local,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NumbersTier {
    Ci,
    Default,
    Heavy,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A scenario file (swim-sim/scenarios/*.toml); without one, the flags
    /// below describe the run.
    scenario: Option<PathBuf>,
    /// The seed that decides everything (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Cluster size (flags mode).
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Simulated time to run, e.g. 30s, 1500ms, 2m (overrides the scenario's).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Crash a node: NODE@TIME, e.g. 7@15s (repeatable, flags mode).
    #[arg(long, value_parser = parse_at)]
    crash: Vec<(usize, Duration)>,
    /// Restart a node with the same name: NODE@TIME (repeatable, flags mode).
    #[arg(long, value_parser = parse_at)]
    restart: Vec<(usize, Duration)>,
    /// Make a node leave gracefully: NODE@TIME (repeatable, flags mode).
    #[arg(long, value_parser = parse_at)]
    leave: Vec<(usize, Duration)>,
    /// Probability that a datagram is lost, 0 to 1 (flags mode).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Protocol preset (flags mode).
    #[arg(long, value_enum, default_value_t = Preset::Lan)]
    preset: Preset,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Draw the run as SVG: coverage of announced updates against the
    /// epidemic curve, members each node sees alive over time, each node's
    /// view error against ground truth after convergence, and the detection
    /// timeline of each crash.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one cluster: a scenario file, or flags (every node joins through
    /// node 0 in the first second).
    Run(RunArgs),
    /// Run a scenario over a range of seeds: a pass/fail table and the
    /// distribution of each metric.
    Sweep {
        /// The scenario file.
        scenario: PathBuf,
        /// Seeds to run, A..B (B excluded), e.g. 1..21.
        #[arg(long, value_parser = parse_range)]
        seeds: (u64, u64),
        /// Print every report as one JSON array.
        #[arg(long)]
        json: bool,
        /// Run the seeds under each variant (SWIM: the Lifeguard parts and
        /// flap damping off; +local_health (with nacks, probing stretched);
        /// +sick_node_rule (and a node whose score is up declares nobody
        /// dead); +dynamic_suspicion; +buddy; Lifeguard: all on; +damping;
        /// +retries: the default) and print one comparison table.
        #[arg(long)]
        variants: bool,
    },
    /// Regenerate the README's table of simulated figures: run each row's
    /// own command (seeds fixed) and compare; fails naming each row whose
    /// figure moved, unless --write rewrites the table.
    Numbers {
        /// Which rows: ci (what the tests check, under 2 minutes), default
        /// (under 4 GB) or heavy (everything); each tier includes the
        /// lighter ones.
        #[arg(long, value_enum, default_value_t = NumbersTier::Default)]
        tier: NumbersTier,
        /// Rewrite the table in the README with what was measured.
        #[arg(long)]
        write: bool,
        /// The README holding the table (the workspace root is its folder).
        #[arg(long, default_value = "README.md")]
        readme: PathBuf,
        /// Only the rows of the tier whose first column or command
        /// contains this text (the others keep the README's figures).
        #[arg(long)]
        only: Option<String>,
    },
    /// Theory check: periods from a crash to its first probe, measured over
    /// seeds, beside the round-robin derivation and the paper's formula.
    FirstDetection {
        /// Cluster size.
        #[arg(long)]
        nodes: usize,
        /// Seeds, A..B.
        #[arg(long, value_parser = parse_range)]
        seeds: (u64, u64),
        /// Crashes per run (one every 5 s after the cluster settles).
        #[arg(long, default_value_t = 5)]
        crashes: usize,
    },
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("invalid seeds '{s}': expected A..B, like 1..21"))?;
    let a: u64 = a
        .parse()
        .map_err(|_| format!("invalid seeds '{s}': '{a}' is not a number"))?;
    let b: u64 = b
        .parse()
        .map_err(|_| format!("invalid seeds '{s}': '{b}' is not a number"))?;
    if b <= a {
        return Err(format!("invalid seeds '{s}': the range is empty"));
    }
    Ok((a, b))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::Sweep {
            scenario,
            seeds,
            json,
            variants: false,
        } => sweep(&scenario, seeds, json),
        Command::Sweep {
            scenario, seeds, ..
        } => compare_variants(&scenario, seeds),
        Command::FirstDetection {
            nodes,
            seeds,
            crashes,
        } => first_detection(nodes, seeds, crashes),
        Command::Numbers {
            tier,
            write,
            readme,
            only,
        } => numbers(tier, write, &readme, only.as_deref()),
    }
}

/// The machine's state beside a wall-time figure: load average (1 min)
/// and this process's peak resident memory, from /proc where there is one.
fn machine() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("load {load}, peak memory so far {peak}")
}

fn numbers(
    tier: NumbersTier,
    write: bool,
    readme: &std::path::Path,
    only: Option<&str>,
) -> ExitCode {
    use swim_sim::numbers::{rewrite, written, Tier, ROWS};
    let tier = match tier {
        NumbersTier::Ci => Tier::Ci,
        NumbersTier::Default => Tier::Default,
        NumbersTier::Heavy => Tier::Heavy,
    };
    let text = match std::fs::read_to_string(readme) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", readme.display())),
    };
    let old = match written(&text) {
        Ok(o) => o,
        Err(e) => return fail(format!("{}: {e}", readme.display())),
    };
    let root = readme
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut figures = vec![None; ROWS.len()];
    let mut moved = Vec::new();
    let chosen = |r: &swim_sim::numbers::Row| {
        r.tier <= tier && only.is_none_or(|o| r.what.contains(o) || r.command().contains(o))
    };
    if !ROWS.iter().any(chosen) {
        return fail(format!(
            "no row of tier {tier:?} matches --only {:?}; the rows: {}",
            only.unwrap_or(""),
            ROWS.iter().map(|r| r.what).collect::<Vec<_>>().join("; ")
        ));
    }
    for (i, row) in ROWS.iter().enumerate().filter(|(_, r)| chosen(r)) {
        println!("{:?}: {}", row.tier, row.what);
        println!("  {}", row.command());
        let started = std::time::Instant::now();
        let figure = match row.measure(root) {
            Ok(f) => f,
            Err(e) => return fail(format!("{}: {e}", row.what)),
        };
        println!("  {figure}");
        match &old[i] {
            Some(was) if *was == figure => println!("  same as the README"),
            Some(was) => {
                println!("  MOVED: the README says {was}");
                moved.push(row.what);
            }
            None => {
                println!("  NEW: the README has no such row");
                moved.push(row.what);
            }
        }
        println!(
            "  wall {:.1} s ({}; wall time and memory are the machine's, never compared)",
            started.elapsed().as_secs_f64(),
            machine()
        );
        figures[i] = Some(figure);
    }
    if write {
        let new = match rewrite(&text, &figures) {
            Ok(n) => n,
            Err(e) => return fail(e),
        };
        if let Err(e) = std::fs::write(readme, new) {
            return fail(format!("cannot write {}: {e}", readme.display()));
        }
        println!(
            "rewrote the table in {} ({} rows moved)",
            readme.display(),
            moved.len()
        );
        return ExitCode::SUCCESS;
    }
    if moved.is_empty() {
        println!("every row measured matches the README");
        ExitCode::SUCCESS
    } else {
        println!(
            "{} rows moved (swim-sim numbers --write rewrites them):",
            moved.len()
        );
        for m in &moved {
            println!("  {m}");
        }
        ExitCode::FAILURE
    }
}

fn first_detection(nodes: usize, (from, to): (u64, u64), crashes: usize) -> ExitCode {
    use swim_sim::theory::*;
    if nodes < crashes + 3 {
        return fail(format!(
            "--nodes {nodes}: needs at least --crashes + 3 = {}",
            crashes + 3
        ));
    }
    let samples = measure_first_detection(nodes, from..to, crashes);
    if samples.is_empty() {
        return fail("no crash was probed");
    }
    let count = samples.len() as f64;
    let mean = samples.iter().map(|s| s.periods as f64).sum::<f64>() / count;
    let var = samples
        .iter()
        .map(|s| (s.periods as f64 - mean).powi(2))
        .sum::<f64>()
        / (count - 1.0).max(1.0);
    let rr = samples
        .iter()
        .map(|s| first_detection_round_robin(s.n))
        .sum::<f64>()
        / count;
    let random = samples
        .iter()
        .map(|s| first_detection_random(s.n))
        .sum::<f64>()
        / count;
    println!(
        "first detection, n = {nodes}, {} crashes over seeds {from}..{to}",
        samples.len()
    );
    println!(
        "  measured            {mean:.3} periods (standard error {:.3})",
        (var / count).sqrt()
    );
    println!(
        "  round-robin derived {rr:.3} ({:+.1}%)",
        (mean - rr) / rr * 100.0
    );
    println!("  random targets      {random:.3} = 1 / (1 - (1 - 1/n)^(n-1))");
    println!(
        "  limit e/(e-1)       {:.3} ({:+.1}%)",
        first_detection_limit(),
        (mean / first_detection_limit() - 1.0) * 100.0
    );
    ExitCode::SUCCESS
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("swim-sim: {msg}");
    ExitCode::from(2)
}

/// The scenario a `run` describes, from a file or from flags.
fn scenario_of(args: &RunArgs) -> Result<Scenario, String> {
    let mut s = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => {
            let mut opts = Options::new(args.nodes, 1, Duration::from_secs(30));
            opts.network.loss = args.loss;
            opts.config = match args.preset {
                Preset::Lan => Config::lan(),
                Preset::Wan => Config::wan(),
                Preset::Local => Config::local(),
            };
            let at = |list: &[(usize, Duration)], kind: fn(usize) -> FaultKind| {
                list.iter()
                    .map(move |&(node, at)| Fault {
                        at,
                        kind: kind(node),
                    })
                    .collect::<Vec<_>>()
            };
            opts.faults.extend(at(&args.crash, FaultKind::Crash));
            opts.faults.extend(at(&args.restart, FaultKind::Restart));
            opts.faults.extend(at(&args.leave, FaultKind::Leave));
            opts.faults.sort_by_key(|f| f.at);
            Scenario {
                path: String::new(),
                description: String::new(),
                checks: Checks::for_flags(&opts),
                options: opts,
                text: String::new(),
            }
        }
    };
    if let Some(seed) = args.seed {
        s = s.with_seed(seed)?;
    }
    if let Some(d) = args.duration {
        s.options.duration = d;
    }
    s.options.validate()?;
    Ok(s)
}

/// What each node saw alive and what was really up, sampled as the run goes
/// (for `--plot`).
#[derive(Default)]
struct Samples {
    /// Per node, `(seconds, members it sees alive, itself included)` at each
    /// sample while it is up.
    alive: Vec<Vec<(f64, f64)>>,
    /// `(seconds, nodes really up)` at each sample: the ground truth each
    /// node's view is compared with. A node sampled in `alive` is up, so it
    /// counts itself here as it does there.
    live: Vec<(f64, usize)>,
    /// Per member some view held dead, `(seconds, % of the other running
    /// views holding it dead)` from the first such sample on.
    dead: std::collections::BTreeMap<usize, Vec<(f64, f64)>>,
}

/// Runs to the end, showing progress on a terminal, sampling what each node
/// sees alive (and how many nodes are really up) every 250 ms of simulated
/// time if asked.
fn execute(opts: Options, progress: bool, samples: Option<&mut Samples>) -> Result<Report, String> {
    let end = opts.duration;
    let nodes = opts.nodes;
    let mut sim = Sim::new(opts)?;
    let step = if samples.is_some() {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let mut samples = samples;
    if let Some(s) = samples.as_deref_mut() {
        *s = Samples {
            alive: vec![Vec::new(); nodes],
            live: Vec::new(),
            dead: Default::default(),
        };
    }
    let mut t = Duration::ZERO;
    while t < end {
        t = (t + step).min(end);
        sim.run_until(Instant::ZERO + t);
        if let Some(s) = samples.as_deref_mut() {
            let secs = t.as_secs_f64();
            let mut live = 0;
            for (v, series) in s.alive.iter_mut().enumerate() {
                if sim.observer.is_live(v) {
                    live += 1;
                    series.push((secs, sim.observer.seen_alive(v) as f64));
                }
            }
            s.live.push((secs, live));
            for m in 0..nodes {
                let held = sim.dead_views(m);
                if held > 0 || s.dead.contains_key(&m) {
                    let others = (live - usize::from(sim.observer.is_live(m))).max(1);
                    let pct = f64::from(held) * 100.0 / others as f64;
                    s.dead.entry(m).or_default().push((secs, pct));
                }
            }
        }
        if progress {
            eprint!(
                "\r  simulated {:>6.1}s of {:.1}s",
                t.as_secs_f64(),
                end.as_secs_f64()
            );
        }
        if sim.violation.is_some() {
            break;
        }
    }
    if progress {
        eprint!("\r{:60}\r", "");
    }
    Ok(sim.report())
}

fn reproduce(s: &Scenario, seed: u64) -> String {
    if s.path.is_empty() {
        format!("swim-sim run --seed {seed} ... (same flags)")
    } else {
        format!("swim-sim run {} --seed {seed}", s.path)
    }
}

fn run(args: RunArgs) -> ExitCode {
    let scenario = match scenario_of(&args) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let seed = scenario.options.seed;
    let mut samples = Samples::default();
    let sampling = args.plot.is_some().then_some(&mut samples);
    let mut report = match execute(
        scenario.options.clone(),
        std::io::stderr().is_terminal(),
        sampling,
    ) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if let Err(e) = scenario.attach_honest(&mut report) {
        return fail(e);
    }
    if let Some(path) = &args.plot {
        let svg = plot(&scenario, &report, samples);
        if let Err(e) = svg.and_then(|svg| std::fs::write(path, svg).map_err(|e| e.to_string())) {
            return fail(format!("cannot draw {}: {e}", path.display()));
        }
    }
    let verdicts = scenario.verdicts(&report);
    // A scenario file's check that judged nothing fails it (a fault it
    // meant to measure is missing); a run from flags only reports it.
    let flags = scenario.path.is_empty();
    let failures: Vec<&Verdict> = (verdicts.iter())
        .filter(|v| !v.passed && (v.measured || !flags))
        .collect();
    if args.json {
        let out = serde_json::json!({ "report": report, "checks": verdicts, "failures": failures });
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(format!("cannot encode the report: {e}")),
        }
    } else {
        if !scenario.description.is_empty() {
            println!("{}: {}", scenario.path, scenario.description);
        }
        print_summary(&report, &scenario.options);
        print_verdicts(&verdicts);
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "swim-sim: FAILED; reproduce with: {}",
            reproduce(&scenario, seed)
        );
        ExitCode::FAILURE
    }
}

/// The report as one SVG: coverage, alive counts, view errors, detections.
fn plot(s: &Scenario, r: &Report, samples: Samples) -> Result<String, String> {
    use swim_sim::plot::{epidemic_curve, report_svg_with_verdicts, Detection, Series};
    let round_ms = s.options.config.gossip_interval.as_secs_f64() * 1000.0;
    let in_rounds = |curve: &[(u64, f64)]| -> Vec<(f64, f64)> {
        curve
            .iter()
            .map(|&(ms, f)| (ms as f64 / round_ms, f))
            .collect()
    };
    // Announced updates and writes; without any, each crash's dead verdict
    // from the first node that declared it (the quick start's own news).
    let mut measured: Vec<Series> = r
        .coverage
        .iter()
        .map(|c| Series {
            label: match &c.key {
                Some(key) => format!(
                    "write of {key} by node-{} at {:.1} s",
                    c.node,
                    c.at_ms as f64 / 1000.0
                ),
                None => format!(
                    "update of node-{} at {:.1} s",
                    c.node,
                    c.at_ms as f64 / 1000.0
                ),
            },
            points: in_rounds(&c.curve),
        })
        .collect();
    if measured.is_empty() {
        measured = (r.crashes.iter())
            .filter(|c| !c.dead_curve.is_empty())
            .map(|c| Series {
                label: format!(
                    "node-{} dead (crash at {:.1} s)",
                    c.node,
                    c.crashed_at_ms as f64 / 1000.0
                ),
                points: in_rounds(&c.dead_curve),
            })
            .collect();
    }
    let rounds = measured
        .iter()
        .flat_map(|m| m.points.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .ceil() as usize
        + 2;
    let fanout = s.options.config.gossip_fanout;
    let mut theory = epidemic_curve(s.options.nodes, fanout, rounds.max(4));
    theory.label = format!(
        "model: push gossip in rounds taken in step, {fanout} pushes per informed node a round. swim's nodes tick out of step, so news is passed on half a round after it arrives on average, and pings and acks carry it too: measured curves run ahead of the model"
    );
    // Nodes still up at the end: a crashed node's view stops with it.
    let end = samples
        .alive
        .iter()
        .filter_map(|p| p.last().map(|l| l.0))
        .fold(0.0, f64::max);
    let alive: Vec<Series> = samples
        .alive
        .into_iter()
        .enumerate()
        .filter(|(_, points)| points.last().is_some_and(|l| l.0 >= end))
        .map(|(v, points)| Series {
            label: format!("node-{v}"),
            points,
        })
        .collect();
    // Seen alive minus really up at the same sample. `seen_alive` counts the
    // node itself and a sampled node is up, so both sides count it: a
    // converged, quiet cluster reads exactly 0.
    let live_at = |t: f64| {
        let i = samples.live.partition_point(|l| l.0 < t);
        samples.live.get(i).filter(|l| l.0 == t).map(|l| l.1 as f64)
    };
    // The report's convergence instant, where every view is exact by
    // definition, so the panel's mark is the report's, not the next sample.
    let converged = r.converged_ms.map(|t| t as f64 / 1000.0);
    let view_error: Vec<Series> = alive
        .iter()
        .map(|s| {
            let mut points: Vec<(f64, f64)> = (s.points.iter())
                .filter_map(|&(t, seen)| live_at(t).map(|live| (t, seen - live)))
                .collect();
            if let Some(t) = converged.filter(|&t| points.first().is_some_and(|p| p.0 <= t)) {
                let at = points.partition_point(|p| p.0 < t);
                if points.get(at).is_none_or(|p| p.0 != t) {
                    points.insert(at, (t, 0.0));
                }
            }
            Series {
                label: s.label.clone(),
                points,
            }
        })
        .collect();
    let detections: Vec<Detection> = r
        .crashes
        .iter()
        .map(|c| {
            let s = |v: Option<u64>| v.map(|v| v as f64 / 1000.0);
            Detection {
                member: format!("node-{}", c.node),
                crashed_at: c.crashed_at_ms as f64 / 1000.0,
                first_suspect: s(c.first_suspect_ms),
                first_dead: s(c.first_dead_ms),
                all_dead: s(c.all_dead_ms),
            }
        })
        .collect();
    // The members held dead by the largest share of views (at most 8).
    let mut worst: Vec<&swim_sim::MemberVerdicts> =
        r.members.iter().filter(|m| m.declared_dead > 0).collect();
    worst.sort_by(|a, b| b.peak_dead_share.total_cmp(&a.peak_dead_share));
    let dead_share: Vec<Series> = worst
        .iter()
        .take(8)
        .filter_map(|m| {
            let points = samples.dead.get(&m.member)?.clone();
            Some(Series {
                label: format!(
                    "node-{}: {} false, {} expected",
                    m.member, m.false_deaths, m.expected_deaths
                ),
                points,
            })
        })
        .collect();
    let coverage = (!measured.is_empty()).then_some((&measured[..], &theory));
    let title = format!(
        "swim-sim: {} nodes, seed {}, {} false deaths",
        r.nodes, r.seed, r.false_positive_deaths
    );
    report_svg_with_verdicts(
        coverage,
        &alive,
        &view_error,
        &dead_share,
        &detections,
        &title,
    )
}

/// One line per check, then the tally.
fn print_verdicts(verdicts: &[Verdict]) {
    println!("checks:");
    for v in verdicts {
        println!("  {}  {}: {}", word(v), v.check, v.detail);
    }
    let failed = verdicts.iter().filter(|v| v.measured && !v.passed).count();
    let unmeasured = verdicts.iter().filter(|v| !v.measured).count();
    if failed + unmeasured == 0 {
        println!("all {} checks passed", verdicts.len());
    } else {
        println!(
            "of {} checks: {failed} FAILED, {unmeasured} could not be judged (nothing to measure)",
            verdicts.len()
        );
    }
}

/// How a verdict reads: passed, FAILED, or UNJUDGED (nothing measured).
fn word(v: &Verdict) -> &'static str {
    match (v.measured, v.passed) {
        (false, _) => "UNJUDGED",
        (true, true) => "passed",
        (true, false) => "FAILED",
    }
}

/// The failed checks of one seed in a sweep.
fn print_failures(failures: &[Verdict]) {
    for f in failures {
        println!("  {}  {}: {}", word(f), f.check, f.detail);
    }
}

fn sweep(path: &std::path::Path, (from, to): (u64, u64), json: bool) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let rows = match run_seeds(&scenario, (from, to)) {
        Ok(rows) => rows,
        Err(e) => return fail(e),
    };
    let failed: Vec<u64> = rows
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(r, _)| r.seed)
        .collect();
    if json {
        let all: Vec<_> = rows
            .iter()
            .map(|(r, f)| serde_json::json!({ "report": r, "failures": f }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
    } else {
        println!(
            "{}: {} seeds, {} passed, {} failed",
            scenario.path,
            rows.len(),
            rows.len() - failed.len(),
            failed.len()
        );
        println!(
            "{:>8}  {:>6}  {:>12}  {:>12}  {:>10}  {:>10}  {:>8}  {:>8}  {:>8}  {:>8}",
            "seed",
            "result",
            "converged",
            "dead-every",
            "reconverge",
            "msg/n/s",
            "fp-dead",
            "exp-dead",
            "fp-susp",
            "fp-acc"
        );
        for (r, f) in &rows {
            let dead = r
                .crashes
                .iter()
                .filter_map(|c| c.all_dead_ms.map(|t| t - c.crashed_at_ms))
                .max();
            let re = r.heals.iter().filter_map(|h| h.reconverged_after_ms).max();
            let show = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
            println!(
                "{:>8}  {:>6}  {:>12}  {:>12}  {:>10}  {:>10.1}  {:>8}  {:>8}  {:>8}  {:>8}",
                r.seed,
                if f.is_empty() { "pass" } else { "FAIL" },
                show(r.converged_ms),
                show(dead),
                show(re),
                r.messages_per_node_per_sec,
                r.false_positive_deaths,
                r.expected_deaths,
                r.false_suspicions,
                r.false_accusations
            );
        }
        let metric = |name: &str, values: Vec<f64>| {
            if values.is_empty() {
                return;
            }
            let mut v = values;
            v.sort_by(|a, b| a.total_cmp(b));
            let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            println!(
                "  {name:<28} min {:>9.1}  median {:>9.1}  p90 {:>9.1}  max {:>9.1}",
                q(0.0),
                q(0.5),
                q(0.9),
                q(1.0)
            );
        };
        println!("distribution over seeds:");
        metric(
            "converged (ms)",
            rows.iter()
                .filter_map(|(r, _)| r.converged_ms.map(|v| v as f64))
                .collect(),
        );
        metric(
            "dead everywhere (ms)",
            rows.iter()
                .flat_map(|(r, _)| {
                    r.crashes
                        .iter()
                        .filter_map(|c| c.all_dead_ms.map(|t| (t - c.crashed_at_ms) as f64))
                })
                .collect(),
        );
        metric(
            "re-converged after heal (ms)",
            rows.iter()
                .flat_map(|(r, _)| {
                    r.heals
                        .iter()
                        .filter_map(|h| h.reconverged_after_ms.map(|v| v as f64))
                })
                .collect(),
        );
        metric(
            "messages / node / s",
            rows.iter()
                .map(|(r, _)| r.messages_per_node_per_sec)
                .collect(),
        );
        metric(
            "bytes / node / s",
            rows.iter().map(|(r, _)| r.bytes_per_node_per_sec).collect(),
        );
        metric(
            "false deaths",
            rows.iter()
                .map(|(r, _)| r.false_positive_deaths as f64)
                .collect(),
        );
        for (r, f) in rows.iter().filter(|(_, f)| !f.is_empty()) {
            println!("seed {} failed:", r.seed);
            print_failures(f);
            println!("  reproduce: {}", reproduce(&scenario, r.seed));
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs `scenario` on seeds `from..to` (showing progress on a terminal);
/// each report with the checks it failed.
fn run_seeds(
    scenario: &Scenario,
    (from, to): (u64, u64),
) -> Result<Vec<(Report, Vec<Verdict>)>, String> {
    let progress = std::io::stderr().is_terminal();
    let mut rows = Vec::new();
    for seed in from..to {
        let s = scenario.with_seed(seed)?;
        if progress {
            eprint!("\r  seed {seed} ({} of {})", seed - from + 1, to - from);
        }
        let mut report = execute(s.options.clone(), false, None)?;
        s.attach_honest(&mut report)?;
        let failures = s.verify(&report);
        rows.push((report, failures));
    }
    if progress {
        eprint!("\r{:60}\r", "");
    }
    Ok(rows)
}

/// The median of `v` (`None` when empty).
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// Runs the seeds under each Lifeguard variant and prints one table.
fn compare_variants(path: &std::path::Path, seeds: (u64, u64)) -> ExitCode {
    let scenario = match Scenario::load(path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!(
        "{}: seeds {}..{}, Lifeguard variants",
        scenario.path, seeds.0, seeds.1
    );
    println!(
        "{:<20} {:>7} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>9} {:>6}",
        "variant",
        "passed",
        "fp-susp",
        "fp-dead",
        "exp-dead",
        "detect-med",
        "all-dead-med",
        "B/node/s",
        "held-min",
        "held-mean",
        "flips"
    );
    for (name, overrides) in swim_sim::scenario::VARIANTS {
        let mut variant = scenario.clone();
        for line in overrides.lines() {
            match variant.with_config(line) {
                Ok(v) => variant = v,
                Err(e) => return fail(format!("variant {name}: {e}")),
            }
        }
        let rows = match run_seeds(&variant, seeds) {
            Ok(rows) => rows,
            Err(e) => return fail(format!("variant {name}: {e}")),
        };
        let sum = |f: &dyn Fn(&Report) -> u64| rows.iter().map(|(r, _)| f(r)).sum::<u64>();
        let crashes = || rows.iter().flat_map(|(r, _)| r.crashes.iter());
        let first = median(
            crashes()
                .filter_map(|c| c.first_dead_ms.map(|t| (t - c.crashed_at_ms) as f64))
                .collect(),
        );
        let all = median(
            crashes()
                .filter_map(|c| c.all_dead_ms.map(|t| (t - c.crashed_at_ms) as f64))
                .collect(),
        );
        let bytes = median(rows.iter().map(|(r, _)| r.bytes_per_node_per_sec).collect());
        let held = (rows.iter().flat_map(|(r, _)| r.hold_out.iter()))
            .map(|h| h.min_share)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        let means: Vec<f64> = (rows.iter().flat_map(|(r, _)| r.hold_out.iter()))
            .map(|h| h.mean_share)
            .collect();
        let held_mean = (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64);
        let flips = (rows.iter().flat_map(|(r, _)| r.hold_out.iter()))
            .map(|h| h.max_flips_per_view)
            .max();
        let show = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.0}{unit}"));
        println!(
            "{:<20} {:>7} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>9} {:>6}",
            name,
            format!(
                "{}/{}",
                rows.iter().filter(|(_, f)| f.is_empty()).count(),
                rows.len()
            ),
            sum(&|r| r.false_suspicions),
            sum(&|r| r.false_positive_deaths),
            sum(&|r| r.expected_deaths),
            show(first, " ms"),
            show(all, " ms"),
            show(bytes, ""),
            held.map_or("-".into(), |h| format!("{:.1}%", h * 100.0)),
            held_mean.map_or("-".into(), |h| format!("{:.1}%", h * 100.0)),
            flips.map_or("-".into(), |f| f.to_string())
        );
    }
    println!("fp-susp, fp-dead, exp-dead: totals over the seeds; detect-med, all-dead-med: median time from a crash to its first dead verdict and to dead everywhere; held-min, held-mean: lowest and mean share of healthy views holding a sick member out (hold-out window); flips: most dead->alive flips of a sick member by one healthy view");
    ExitCode::SUCCESS
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "not by the end of the run".to_string(),
        |v| format!("{:.3}s", v as f64 / 1000.0),
    )
}

fn print_summary(r: &Report, o: &Options) {
    let config = &o.config;
    println!(
        "swim-sim: {} nodes, seed {}, {:.1}s simulated",
        r.nodes,
        r.seed,
        r.simulated_ms as f64 / 1000.0
    );
    match r.converged_ms {
        Some(_) => println!("  converged at        {}", ms(r.converged_ms)),
        None if o.network.loss > 0.0 => println!(
            "  converged at        not while the run lasted: with {} % of datagrams lost some suspicion is nearly always in flight (at the end {} (view, member) pairs alive, {} suspect, {} neither)",
            o.network.loss * 100.0,
            r.alive_pairs_at_end,
            r.suspect_pairs_at_end,
            r.unsettled_at_end
        ),
        None => println!("  converged at        not while the run lasted"),
    }
    let window = if r.measured_ms == (0, r.simulated_ms) {
        String::new()
    } else {
        let (a, b) = r.measured_ms;
        format!(", over {:.0}-{:.0} s", a as f64 / 1000.0, b as f64 / 1000.0)
    };
    println!(
        "  traffic per node    {:.1} msg/s, {:.0} B/s (busiest node {:.1} msg/s, {:.0} B/s{window})",
        r.messages_per_node_per_sec,
        r.bytes_per_node_per_sec,
        r.max_messages_per_node_per_sec,
        r.max_bytes_per_node_per_sec
    );
    println!(
        "  false suspicions    {} ({} first-hand)",
        r.false_suspicions, r.false_accusations
    );
    println!(
        "  false deaths        {} (expected deaths {})",
        r.false_positive_deaths, r.expected_deaths
    );
    for d in r.false_deaths.iter().take(10) {
        println!("    {}", d.explain());
    }
    if r.false_deaths.len() > 10 {
        println!(
            "    ... {} more in the JSON report",
            r.false_deaths.len() - 10
        );
    }
    if r.cross_cut_deaths > 0 {
        println!("  cross-cut deaths    {}", r.cross_cut_deaths);
        for d in r.cross_cut.iter().take(10) {
            println!("    {}", d.explain());
        }
        if r.cross_cut_deaths > 10 {
            println!(
                "    ... {} more ({} in the JSON report)",
                r.cross_cut_deaths - 10,
                r.cross_cut.len().saturating_sub(10)
            );
        }
    }
    let mut worst: Vec<&swim_sim::MemberVerdicts> =
        r.members.iter().filter(|m| m.declared_dead > 0).collect();
    worst.sort_by(|a, b| b.peak_dead_share.total_cmp(&a.peak_dead_share));
    for m in worst.iter().take(10) {
        let accusers = if m.false_accusers.is_empty() {
            String::new()
        } else {
            let named: Vec<String> = (m.false_accusers.iter())
                .map(|(a, n)| format!("{a} x{n}"))
                .collect();
            format!("; false deaths declared by {}", named.join(", "))
        };
        println!(
            "  node-{:<6} declared dead {} times ({} false), peak {:.0}% of views at {}, {} flips back (at most {} by one view){accusers}",
            m.member,
            m.declared_dead,
            m.false_deaths,
            m.peak_dead_share * 100.0,
            ms(Some(m.peak_dead_at_ms)),
            m.flips,
            m.max_flips_per_view
        );
    }
    if worst.len() > 10 {
        println!("  ... {} more members declared dead", worst.len() - 10);
    }
    for h in &r.hold_out {
        println!(
            "  sick node-{:<4} held out by at least {:.1}% of healthy views (mean {:.1}%, lowest at {}), {} flips back by healthy views (at most {} by one)",
            h.member,
            h.min_share * 100.0,
            h.mean_share * 100.0,
            ms(Some(h.min_at_ms)),
            h.flips,
            h.max_flips_per_view
        );
    }
    if let Some(t) = r.alive_everywhere_ms {
        println!("  all alive everywhere at {}", ms(Some(t)));
    }
    for c in &r.crashes {
        let after = |v: Option<u64>| ms(v.map(|v| v - c.crashed_at_ms));
        println!(
            "  crash of node-{} at {}: first suspect +{}, first dead +{}, dead everywhere +{}",
            c.node,
            ms(Some(c.crashed_at_ms)),
            after(c.first_suspect_ms),
            after(c.first_dead_ms),
            after(c.all_dead_ms)
        );
    }
    for l in &r.leaves {
        println!(
            "  leave of node-{} at {}: reported left by every live node +{} ({} told)",
            l.node,
            ms(Some(l.left_at_ms)),
            ms(l.left_everywhere_after_ms),
            l.told
        );
    }
    for h in &r.heals {
        if h.restart {
            let keys = (r.catch_ups.iter())
                .find(|c| {
                    c.restarted_at_ms == h.healed_at_ms
                        && h.what.ends_with(&format!("node-{}", c.node))
                })
                .map(|c| format!(", holds every namespace +{}", ms(c.keys_complete_after_ms)))
                .unwrap_or_default();
            println!(
                "  {} at {}: every live node sees exactly the live set alive again +{}{keys}",
                h.what,
                ms(Some(h.healed_at_ms)),
                ms(h.reconverged_after_ms)
            );
            continue;
        }
        let keys = h
            .keys_agreed_after_ms
            .map(|t| format!(", keys agree +{}", ms(Some(t))))
            .unwrap_or_default();
        println!(
            "  {} at {}: re-converged +{}{keys}",
            h.what,
            ms(Some(h.healed_at_ms)),
            ms(h.reconverged_after_ms)
        );
    }
    let round_ms = config.gossip_interval.as_secs_f64() * 1000.0;
    let estimate = swim_sim::theory::dissemination_rounds(r.nodes, config.gossip_fanout);
    if r.coverage.len() > 20 {
        println!(
            "  ({} updates and writes followed; the first 20 below, all in the JSON report)",
            r.coverage.len()
        );
    }
    for c in r.coverage.iter().take(20) {
        let rounds = c
            .complete_after_ms
            .map(|t| format!(" = {:.1} gossip rounds", t as f64 / round_ms))
            .unwrap_or_default();
        let what = match &c.key {
            Some(key) => format!("write of {key} by"),
            None => "update of".to_string(),
        };
        println!(
            "  {what} node-{} at {}: known everywhere +{}{rounds} (push-gossip estimate log_{}(n) + ln(n)/{} = {estimate:.1})",
            c.node,
            ms(Some(c.at_ms)),
            ms(c.complete_after_ms),
            config.gossip_fanout + 1,
            config.gossip_fanout,
        );
    }
    print_deliveries(r);
    print_queries(r);
    if let Some(h) = &r.hostile {
        print_hostile(h);
    }
    if let Some(v) = &r.violation {
        println!(
            "  SAFETY VIOLATION at {} on node-{}: {}",
            ms(Some(v.at_ms)),
            v.node,
            v.what
        );
    }
    let c = &r.candidates;
    println!(
        "  members heard of   {} checked: {} answered, {} forgotten, {} evicted, {} not pinged; {} refused (busy)",
        c.heard, c.verified, c.forgotten, c.evicted, c.unpinged, c.refused
    );
    println!(
        "  events {}, dropped inputs {}, trace hash {}",
        r.events, r.dropped, r.trace_hash
    );
}

/// The hostile member's part of the summary.
fn print_hostile(h: &swim_sim::HostileReport) {
    let sent: Vec<String> = (h.forged_sent.iter())
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    println!(
        "  hostile: forged     {}",
        if sent.is_empty() {
            "nothing".to_string()
        } else {
            sent.join(", ")
        }
    );
    println!(
        "  forged values       {} taken by readers: {} (reader, owner, key), {} owners; {} still held at the end",
        h.forged_seen, h.forged_keys, h.forged_owners, h.forged_at_end
    );
    println!(
        "  forged after write  worst {} after the owner's next write ({} beyond {} ms); longest held {} ms",
        ms(h.forged_after_write_max_ms),
        h.forged_after_write_late,
        h.write_deadline_ms,
        h.forged_longest_ms
    );
    println!(
        "  owner writes lost   {} of {} not visible everywhere within {} ms",
        h.writes_lost, h.writes_checked, h.write_deadline_ms
    );
    for e in &h.lost_examples {
        println!("    {e}");
    }
    println!(
        "  resurrections       {}; healthy members held dead {}",
        h.resurrections, h.healthy_held_dead
    );
    let honest = |f: &dyn Fn(&swim_sim::Baseline) -> String| {
        h.honest
            .as_ref()
            .map_or(String::new(), |b| format!(" (honest run: {})", f(b)))
    };
    println!(
        "  member entries/node mean {:.1}, max {}, peak {}{}",
        h.members_mean,
        h.members_max,
        h.members_peak,
        honest(&|b| format!("mean {:.1}, peak {}", b.members_mean, b.members_peak))
    );
    println!(
        "  key bytes/node      mean {:.0}, max {}, peak {}{}",
        h.key_bytes_mean,
        h.key_bytes_max,
        h.key_bytes_peak,
        honest(&|b| format!("mean {:.0}, peak {}", b.key_bytes_mean, b.key_bytes_peak))
    );
    println!("  namespaces over the limits {}", h.namespaces_over_limits);
}

/// User events: one line each (the first 20), then their spread in all.
fn print_deliveries(r: &Report) {
    if r.deliveries.is_empty() {
        return;
    }
    let ds = &r.deliveries;
    for d in ds.iter().take(20) {
        println!(
            "  event {:?} of node-{} at {}: delivered by {} of {} nodes, everywhere +{}, duplicates {}{}{}",
            d.name,
            d.origin,
            ms(Some(d.at_ms)),
            d.delivered,
            d.expected,
            ms(d.everywhere_after_ms),
            d.duplicates,
            if d.replayed > 0 {
                format!(", replayed by {} later processes", d.replayed)
            } else {
                String::new()
            },
            if d.missing.is_empty() {
                String::new()
            } else {
                format!(", missing at {:?}", d.missing)
            }
        );
    }
    let mut times: Vec<u64> = ds.iter().filter_map(|d| d.everywhere_after_ms).collect();
    times.sort_unstable();
    let everywhere = times.len();
    let dups: u64 = ds.iter().map(|d| d.duplicates).sum();
    let (median, max) = match times.as_slice() {
        [] => ("never".to_string(), "never".to_string()),
        t => (ms(Some(t[t.len() / 2])), ms(t.last().copied())),
    };
    println!(
        "  user events: {} fired, {everywhere} delivered everywhere expected (median +{median}, max +{max}), {dups} duplicates",
        ds.len()
    );
}

/// User queries: one line each (the first 20).
fn print_queries(r: &Report) {
    for q in r.queries.iter().take(20) {
        let done = match q.done {
            Some((answers, acks, asked, missing)) => format!(
                "; the origin counted {answers} responses and {acks} acks of {asked} asked, {missing} missing"
            ),
            None => "; the origin never finished it".into(),
        };
        println!(
            "  query {:?} of node-{} at {}: {} of {} responses ({:.2} %), {} acks{done}{}",
            q.name,
            q.origin,
            ms(Some(q.at_ms)),
            q.responded,
            q.expected,
            q.complete * 100.0,
            q.acked,
            if q.missing.is_empty() {
                String::new()
            } else {
                format!("; no response from {:?}", q.missing)
            }
        );
    }
}
