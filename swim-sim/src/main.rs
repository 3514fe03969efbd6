//! `swim-sim`: run a simulated swim cluster from a seed and report what happened.

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;
use swim_core::Config;
use swim_sim::units::{parse_at, parse_duration};
use swim_sim::{Fault, FaultKind, Options, Report, Sim};

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

#[derive(Subcommand)]
enum Command {
    /// Run one cluster: every node joins through node 0 in the first second.
    Run {
        /// Cluster size.
        #[arg(long, default_value_t = 100)]
        nodes: usize,
        /// The seed that decides everything.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulated time to run (e.g. 30s, 1500ms, 2m).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        /// Crash a node: NODE@TIME, e.g. 7@15s (repeatable).
        #[arg(long, value_parser = parse_at)]
        crash: Vec<(usize, Duration)>,
        /// Restart a node with the same name: NODE@TIME (repeatable).
        #[arg(long, value_parser = parse_at)]
        restart: Vec<(usize, Duration)>,
        /// Make a node leave gracefully: NODE@TIME (repeatable).
        #[arg(long, value_parser = parse_at)]
        leave: Vec<(usize, Duration)>,
        /// Probability that a datagram is lost (0 to 1).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Protocol preset.
        #[arg(long, value_enum, default_value_t = Preset::Lan)]
        preset: Preset,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let Command::Run {
        nodes,
        seed,
        duration,
        crash,
        restart,
        leave,
        loss,
        preset,
        json,
    } = Cli::parse().command;
    let mut opts = Options::new(nodes, seed, duration);
    opts.network.loss = loss;
    opts.config = match preset {
        Preset::Lan => Config::lan(),
        Preset::Wan => Config::wan(),
        Preset::Local => Config::local(),
    };
    let kinds: [(Vec<(usize, Duration)>, fn(usize) -> FaultKind); 3] = [
        (crash, FaultKind::Crash),
        (restart, FaultKind::Restart),
        (leave, FaultKind::Leave),
    ];
    for (list, kind) in kinds {
        opts.faults.extend(list.into_iter().map(|(node, at)| Fault {
            at,
            kind: kind(node),
        }));
    }
    let sim = match Sim::new(opts) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("swim-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let report = sim.run();
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("swim-sim: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_summary(&report);
    }
    ExitCode::SUCCESS
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(
        || "never".to_string(),
        |v| format!("{:.3}s", v as f64 / 1000.0),
    )
}

fn print_summary(r: &Report) {
    println!(
        "swim-sim: {} nodes, seed {}, {:.1}s simulated",
        r.nodes,
        r.seed,
        r.simulated_ms as f64 / 1000.0
    );
    println!("  converged at        {}", ms(r.converged_ms));
    println!(
        "  traffic per node    {:.1} msg/s, {:.0} B/s",
        r.messages_per_node_per_sec, r.bytes_per_node_per_sec
    );
    println!("  false suspicions    {}", r.false_suspicions);
    println!("  false deaths        {}", r.false_positive_deaths);
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
    println!(
        "  events {}, dropped inputs {}, trace hash {}",
        r.events, r.dropped, r.trace_hash
    );
}
